// A bid is the farmer's signature over the canonical statement: any changed field, another key or another purpose fails, and nothing malformed throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newIdentity, signJsonStatement, toBase64 } from '../../src/identity/index.js';
import { BID_PURPOSE, bidSignatureHolds, parseSignedBid, signBid, type BidStatement } from '../../src/protocol/bid.js';
import { ValidationError } from '../../src/protocol/validate.js';

test('bid signatures: the farmer\'s own bid verifies; a changed field, another signer or another purpose does not', () => {
  const farmer = newIdentity();
  const other = newIdentity();
  const statement: BidStatement = { request: 'req_0123456789abcdef', gateway: newIdentity().agent, farmer: farmer.agent, node: 'node-farmer1', cpu: 1, memoryGb: 2, diskGb: 20, pricePerHour: '0.017600', unit: 'SPORE', validUntilMs: 1_800_000_000_000 };
  const bid = signBid(farmer.secretKey, statement);
  assert.equal(bidSignatureHolds(bid), true);
  const changes: Array<[string, Partial<BidStatement>]> = [
    ['a lower price', { pricePerHour: '0.010000' }],
    ['another node', { node: 'node-farmer2' }],
    ['more CPU', { cpu: 2 }],
    ['another request', { request: 'req_ffffffffffffffff' }],
    ['longer validity', { validUntilMs: statement.validUntilMs + 1 }],
    ['claimed by another farmer', { farmer: other.agent }],
  ];
  for (const [name, change] of changes) assert.equal(bidSignatureHolds({ ...bid, ...change }), false, name);
  assert.equal(bidSignatureHolds(signBid(other.secretKey, statement)), false, 'signed with a key that is not the named farmer\'s');
  const wrongPurpose = toBase64(signJsonStatement(farmer.secretKey, 'hypha/agent-auth/v1', { ...statement }));
  assert.notEqual(BID_PURPOSE, 'hypha/agent-auth/v1');
  assert.equal(bidSignatureHolds({ ...bid, signature: wrongPurpose }), false, 'a signature for another purpose');
  for (const signature of ['', 'not base64!', toBase64(new Uint8Array(63))]) assert.equal(bidSignatureHolds({ ...bid, signature }), false, `signature ${JSON.stringify(signature)}`);
  assert.equal(bidSignatureHolds({ ...bid, farmer: 'not-a-key' }), false);
});

test('parseSignedBid names the bad field', () => {
  const bid = signBid(newIdentity().secretKey, { request: 'req_1', gateway: 'g', farmer: 'f', node: 'n', cpu: 1, memoryGb: 1, diskGb: 1, pricePerHour: '1', unit: 'SPORE', validUntilMs: 1 });
  assert.deepEqual(parseSignedBid(JSON.parse(JSON.stringify(bid)), 'bid'), bid);
  const bad: Array<[unknown, string]> = [
    [{ ...bid, pricePerHour: 0.5 }, 'bid.pricePerHour'],
    [{ ...bid, pricePerHour: '-1' }, 'bid.pricePerHour'],
    [{ ...bid, cpu: 0 }, 'bid.cpu'],
    [{ ...bid, node: '../x' }, 'bid.node'],
    [{ ...bid, signature: undefined }, 'bid.signature'],
    ['a string', 'bid'],
  ];
  for (const [value, field] of bad) {
    assert.throws(() => parseSignedBid(value, 'bid'), (err: unknown) => err instanceof ValidationError && err.field === field, field);
  }
});
