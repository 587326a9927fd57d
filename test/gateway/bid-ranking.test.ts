// Bid ranking as a table: cheapest first, then the better up-time record, fewer disputes, the earlier bid, the node id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rankBids, type FarmerRecord, type HeldBid } from '../../src/gateway/market/bid-ranking.js';
import type { SignedBid } from '../../src/protocol/bid.js';

function held(node: string, farmer: string, pricePerHour: string, receivedAtMs = 0): HeldBid {
  const bid: SignedBid = { request: 'req_1', gateway: 'gw', farmer, node, cpu: 1, memoryGb: 1, diskGb: 1, pricePerHour, unit: 'SPORE', validUntilMs: 1, signature: 'x' };
  return { bid, receivedAtMs };
}

const records: Record<string, FarmerRecord> = {
  good: { upBps: 9_990, periods: 48, disputes: 0 },
  fair: { upBps: 9_000, periods: 48, disputes: 0 },
  disputed: { upBps: 9_990, periods: 48, disputes: 3 },
  unknown: { upBps: null, periods: 0, disputes: 0 },
};
const recordOf = (f: string): FarmerRecord => records[f] as FarmerRecord;

test('rankBids: the order customers see', () => {
  const table: Array<[string, HeldBid[], string[]]> = [
    ['cheapest first, whatever the record', [held('a', 'good', '0.020000'), held('b', 'unknown', '0.010000')], ['b', 'a']],
    ['prices compare as amounts, not text ("0.9" > "0.10")', [held('a', 'good', '0.9'), held('b', 'good', '0.10')], ['b', 'a']],
    ['same price: better up-time first', [held('a', 'fair', '0.01'), held('b', 'good', '0.01')], ['b', 'a']],
    ['same price: no record comes after any record', [held('a', 'unknown', '0.01'), held('b', 'fair', '0.01')], ['b', 'a']],
    ['same price and up-time: fewer disputes first', [held('a', 'disputed', '0.01'), held('b', 'good', '0.01')], ['b', 'a']],
    ['all equal: the earlier bid first', [held('a', 'good', '0.01', 20), held('b', 'good', '0.01', 10)], ['b', 'a']],
    ['all equal, same time: by node id', [held('b', 'good', '0.01'), held('a', 'good', '0.01')], ['a', 'b']],
    ['zero is the cheapest', [held('a', 'good', '0.000001'), held('b', 'fair', '0')], ['b', 'a']],
    ['no bids', [], []],
  ];
  for (const [name, bids, want] of table) {
    assert.deepEqual(rankBids(bids, recordOf).map((b) => b.bid.node), want, name);
  }
});

test('rankBids does not reorder its input', () => {
  const input = [held('a', 'good', '0.02'), held('b', 'good', '0.01')];
  rankBids(input, recordOf);
  assert.deepEqual(input.map((b) => b.bid.node), ['a', 'b']);
});
