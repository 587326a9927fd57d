// The agent's Bidder: signed bids by the policy for its own nodes only, or by the farmer's command (a real child process); a failing or greedy command makes no bid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { newIdentity } from '../../src/identity/index.js';
import { Bidder } from '../../src/agent/bidding/bidder.js';
import { parseBiddingConfig } from '../../src/agent/bidding/bidding-config.js';
import { bidSignatureHolds, type CapacityRequest } from '../../src/protocol/bid.js';
import { ValidationError } from '../../src/protocol/validate.js';

const farmer = newIdentity();
const gateway = newIdentity().agent;
const NOW = Date.UTC(2026, 0, 1);
const request: CapacityRequest = { id: 'req_1', cpu: 1, memoryGb: 2, diskGb: 20, maxPricePerHour: '0.050000', unit: 'SPORE', expiresAtMs: NOW + 3_600_000, nodes: ['node-1', 'node-other'] };
const log = pino({ level: 'silent' });

function bidder(raw: unknown): Bidder {
  return new Bidder(parseBiddingConfig(raw) as NonNullable<ReturnType<typeof parseBiddingConfig>>, { farmer: farmer.agent, secretKey: farmer.secretKey }, log);
}

test('policy bids: one per own node asked, signed by the farmer, valid until the earlier of validMinutes and the request\'s expiry', async () => {
  const b = bidder({ perCpuHour: '0.01', perGbRamHour: '0.002', perGbDiskHour: '0.0001', marginPercent: 10, validMinutes: 30 });
  const bids = await b.bids(request, ['node-1', 'node-2'], gateway, NOW);
  assert.equal(bids.length, 1);
  const bid = bids[0] as (typeof bids)[number];
  assert.deepEqual({ ...bid, signature: '' }, { request: 'req_1', gateway, farmer: farmer.agent, node: 'node-1', cpu: 1, memoryGb: 2, diskGb: 20, pricePerHour: '0.017600', unit: 'SPORE', validUntilMs: NOW + 30 * 60_000, signature: '' });
  assert.equal(bidSignatureHolds(bid), true);
  const long = await bidder({ perCpuHour: '0.01', validMinutes: 600 }).bids(request, ['node-1'], gateway, NOW);
  assert.equal(long[0]?.validUntilMs, request.expiresAtMs);
  assert.deepEqual(await bidder({ floorPerHour: '1' }).bids(request, ['node-1'], gateway, NOW), [], 'over the maximum: no bid');
});

test('bidCommand: the request on stdin, the price from stdout; a decline, a failure, junk or a price over the maximum is no bid', async () => {
  const node = process.execPath;
  const script = (body: string): string[] => [node, '-e', `let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const r=JSON.parse(s);${body}})`];
  const priced = await bidder({ command: script("process.stdout.write(JSON.stringify({pricePerHour: r.node === 'node-1' && r.cpu === 1 ? '0.0123' : '9'}))") }).bids(request, ['node-1'], gateway, NOW);
  assert.equal(priced[0]?.pricePerHour, '0.012300');
  assert.equal(bidSignatureHolds(priced[0]), true);
  const cases: Array<[string, string[]]> = [
    ['declines', script("process.stdout.write('{\"pricePerHour\": null}')")],
    ['exits 1', script('process.exit(1)')],
    ['prints junk', script("process.stdout.write('cheap!')")],
    ['asks a float', script("process.stdout.write('{\"pricePerHour\": 0.01}')")],
    ['over the maximum', script("process.stdout.write('{\"pricePerHour\": \"0.050001\"}')")],
    ['does not exist', ['/nonexistent/hypha-pricer']],
  ];
  for (const [name, command] of cases) {
    assert.deepEqual(await bidder({ command }).bids(request, ['node-1'], gateway, NOW), [], name);
  }
});

test('parseBiddingConfig names the bad key', () => {
  const table: Array<[unknown, string]> = [
    [{ perCpuHour: 0.01 }, 'config.bidding.perCpuHour'],
    [{ marginPercent: -1 }, 'config.bidding.marginPercent'],
    [{ command: [] }, 'config.bidding.command'],
    [{ validMinutes: 0 }, 'config.bidding.validMinutes'],
    [{ price: '1' }, 'config.bidding.price'],
  ];
  for (const [raw, field] of table) assert.throws(() => parseBiddingConfig(raw), (err: unknown) => err instanceof ValidationError && err.field === field, field);
  assert.equal(parseBiddingConfig(undefined), undefined);
});
