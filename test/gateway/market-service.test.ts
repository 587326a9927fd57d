// MarketService on a fake clock: which bids it takes and which it refuses (with why), the caps on requests, expiry, and accepting into an order at the bid's price.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { newIdentity, toBase64, type Identity } from '../../src/identity/index.js';
import { seal } from '../../src/identity/sealed-box.js';
import { MarketService, type MarketDeps } from '../../src/gateway/market/market-service.js';
import type { NodeView } from '../../src/gateway/agents/agent-hub.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import type { CapacityRequestRecord, OrderRecord } from '../../src/gateway/store/records.js';
import { FakeTable } from '../helpers/fake-table.js';
import type { Offer } from '../../src/protocol/offer.js';
import { signBid, type BidStatement, type CapacityRequest } from '../../src/protocol/bid.js';
import { ValidationError } from '../../src/protocol/validate.js';
import type { OrderTerms } from '../../src/gateway/orders/order-terms.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { readVectors } from '../helpers/paths.js';

const KEY = readVectors<{ accepted: { line: string }[] }>('ssh-keys.json').accepted[0]?.line as string;
const gateway = newIdentity();
const farmerA = newIdentity();
const farmerB = newIdentity();
const CAP = { cpu: 16, memoryGb: 64, diskGb: 800 };

interface World {
  readonly market: MarketService;
  readonly clock: FakeClock;
  readonly events: FakeEventSink;
  readonly sent: Array<{ farmer: string; request: CapacityRequest }>;
  readonly placed: Array<{ offer: Offer; terms: OrderTerms }>;
  readonly nodes: NodeView[];
}

function world(policy: Partial<MarketDeps['policy']> = {}): World {
  const clock = new FakeClock();
  const events = new FakeEventSink();
  const sent: World['sent'] = [];
  const placed: World['placed'] = [];
  const nodes: NodeView[] = [
    { id: 'node-a', farmer: farmerA.agent, connected: true, up: true, capacity: CAP },
    { id: 'node-b', farmer: farmerB.agent, connected: true, up: true, capacity: CAP },
    { id: 'node-small', farmer: farmerB.agent, connected: true, up: true, capacity: { cpu: 1, memoryGb: 1, diskGb: 10 } },
    { id: 'node-off', farmer: farmerB.agent, connected: false, up: false },
  ];
  const market = new MarketService({
    clock,
    gateway: gateway.agent,
    unit: 'SPORE',
    events,
    log: pino({ level: 'silent' }),
    policy: { maxOpen: 2, maxPerWindow: 3, windowMs: 86_400_000, maxHeld: 100, maxExpiresInMinutes: 1440, maxSshKeyBytes: 8192, provisioner: 'agent', ...policy },
    table: new FakeTable<CapacityRequestRecord>(),
    nodes: () => nodes,
    usedOn: () => ({ cpu: 0, memoryGb: 0, diskGb: 0 }),
    send: (farmer, request) => {
      sent.push({ farmer, request });
      return true;
    },
    recordOf: () => ({ upBps: null, periods: 0, disputes: 0 }),
    placeOrder: (customer, offer, terms) => {
      placed.push({ offer, terms });
      return Promise.resolve({ id: `ord_${placed.length}`, customer, offer: offer.id, pricePerHour: terms.bid?.pricePerHour ?? '' } as unknown as OrderRecord);
    },
  });
  return { market, clock, events, sent, placed, nodes };
}

const ask = { cpu: 1, memoryGb: 2, diskGb: 20, maxPricePerHour: '0.05', expiresInMinutes: 60 };

function statement(w: World, requestId: string, farmer: Identity, node: string, change: Partial<BidStatement> = {}): BidStatement {
  return { request: requestId, gateway: gateway.agent, farmer: farmer.agent, node, cpu: 1, memoryGb: 2, diskGb: 20, pricePerHour: '0.020000', unit: 'SPORE', validUntilMs: w.clock.nowMs() + 3_600_000, ...change };
}

test('a request goes to the connected agents of nodes with room, grouped per farmer, narrowed by farmers and nodes', async () => {
  const w = world();
  const r = await w.market.create('alice', ask);
  assert.deepEqual(w.sent.map((s) => [s.farmer, s.request.nodes]), [[farmerA.agent, ['node-a']], [farmerB.agent, ['node-b']]]);
  assert.deepEqual(r.sentTo, ['node-a', 'node-b']);
  assert.equal(w.sent[0]?.request.maxPricePerHour, '0.050000');
  await w.market.create('alice', { ...ask, nodes: ['node-b'] });
  assert.deepEqual(w.sent.slice(2).map((s) => s.request.nodes), [['node-b']]);
});

test('bids: only the sending agent\'s own, for a node asked, the size asked, at or under the maximum, unexpired, signed', async () => {
  const w = world();
  const r = await w.market.create('alice', ask);
  const table: Array<[string, string, readonly string[], BidStatement, Identity, RegExp | null]> = [
    ['a good bid', farmerA.agent, ['node-a'], statement(w, r.id, farmerA, 'node-a'), farmerA, null],
    ['sent by another agent than it names', farmerB.agent, ['node-b'], statement(w, r.id, farmerA, 'node-a'), farmerA, /came from agent/],
    ['a node the request was not sent to', farmerB.agent, ['node-b', 'node-small'], statement(w, r.id, farmerB, 'node-small'), farmerB, /not one this request was sent to/],
    ['another gateway', farmerB.agent, ['node-b'], statement(w, r.id, farmerB, 'node-b', { gateway: farmerA.agent }), farmerB, /names gateway/],
    ['another size', farmerB.agent, ['node-b'], statement(w, r.id, farmerB, 'node-b', { cpu: 2 }), farmerB, /another size/],
    ['over the maximum', farmerB.agent, ['node-b'], statement(w, r.id, farmerB, 'node-b', { pricePerHour: '0.050001' }), farmerB, /over the maximum/],
    ['expired', farmerB.agent, ['node-b'], statement(w, r.id, farmerB, 'node-b', { validUntilMs: w.clock.nowMs() }), farmerB, /expired/],
    ['signed by a stranger', farmerB.agent, ['node-b'], statement(w, r.id, farmerB, 'node-b'), newIdentity(), /signature does not verify/],
    ['an unknown request', farmerB.agent, ['node-b'], statement(w, 'req_nope', farmerB, 'node-b'), farmerB, null],
  ];
  for (const [name, from, nodes, st, signer, refusal] of table) {
    const before = r.bids.size;
    const eventsBefore = w.events.events.length;
    await w.market.onBid(from, nodes, signBid(signer.secretKey, st));
    if (name === 'a good bid') {
      assert.equal(r.bids.size, before + 1, name);
      continue;
    }
    assert.equal(r.bids.size, before, `${name}: not stored`);
    if (refusal) {
      const e = w.events.events[eventsBefore];
      assert.equal(e?.event, 'market.bid_refused', name);
      assert.match(e?.detail ?? '', refusal, name);
    }
  }
  assert.deepEqual(w.market.bidsOf(r).map((b) => b.bid.node), ['node-a']);
});

test('accepting: the bid must be one received, unchanged, unexpired, its node still up; then one order at its price, once', async () => {
  const w = world();
  const r = await w.market.create('alice', ask);
  const good = signBid(farmerA.secretKey, statement(w, r.id, farmerA, 'node-a', { pricePerHour: '0.017600' }));
  await w.market.onBid(farmerA.agent, ['node-a'], good);
  const body = (bid: unknown): unknown => ({ bid, sshKeys: [KEY] });
  const refused = async (b: unknown, code: string, field?: string): Promise<void> => {
    await assert.rejects(w.market.accept('alice', r.id, b), (err: unknown) => {
      if (err instanceof ValidationError) return code === 'bad_request' && err.field === field;
      return err instanceof PublicError && err.code === code && (field === undefined || err.extra?.field === field);
    });
  };
  await refused(body({ ...good, pricePerHour: '0.000001' }), 'bad_request', 'bid.signature');
  const stranger = signBid(farmerB.secretKey, statement(w, r.id, farmerB, 'node-b'));
  await refused(body(stranger), 'conflict', 'bid');
  await refused(body({ ...good, request: 'req_other' }), 'bad_request', 'bid.request');
  await assert.rejects(w.market.accept('bob', r.id, body(good)), (err: unknown) => err instanceof PublicError && err.code === 'not_found');
  (w.nodes[0] as { up: boolean }).up = false;
  await refused(body(good), 'conflict');
  (w.nodes[0] as { up: boolean }).up = true;
  assert.equal(w.placed.length, 0);
  const order = await w.market.accept('alice', r.id, body(good));
  assert.equal(order.id, 'ord_1');
  assert.deepEqual(w.placed[0]?.offer, { id: 'bid', cpu: 1, memoryGb: 2, diskGb: 20, pricePerHourMicros: 17_600n, unit: 'SPORE' });
  assert.equal(w.placed[0]?.terms.bid?.signature, good.signature, 'the signed bid is kept on the order');
  assert.equal(r.state, 'accepted');
  await refused(body(good), 'conflict');
  assert.equal(w.placed.length, 1, 'one order');
});

test("accepting with secrets not sealed to the bid's node is a 400 naming secrets, and nothing is placed; sealed to it (among others), the order is placed", async () => {
  const w = world();
  const r = await w.market.create('alice', ask);
  const good = signBid(farmerA.secretKey, statement(w, r.id, farmerA, 'node-a'));
  await w.market.onBid(farmerA.agent, ['node-a'], good);
  // A real sealed box, to node-b's farmer: well formed, but the bid's node (node-a) is not named, so it could never run.
  const boxB = toBase64(seal(farmerB.agent, new Uint8Array(16)));
  const eventsBefore = w.events.events.length;
  await assert.rejects(
    w.market.accept('alice', r.id, { bid: good, sshKeys: [KEY], secrets: [{ name: 'db.env', sealed: { 'node-b': boxB } }] }),
    (err: unknown) => err instanceof ValidationError && err.field === 'secrets' && /node-a/.test(err.message),
  );
  assert.equal(w.placed.length, 0, 'no order');
  assert.equal(r.state, 'open', 'the request can still be accepted');
  assert.equal(w.events.events.length, eventsBefore, 'nothing recorded');
  const boxA = toBase64(seal(farmerA.agent, new Uint8Array(16)));
  await w.market.accept('alice', r.id, { bid: good, sshKeys: [KEY], secrets: [{ name: 'db.env', sealed: { 'node-a': boxA, 'node-b': boxB } }] });
  assert.equal(w.placed.length, 1);
  assert.equal(r.state, 'accepted');
});

test('requests expire with a note, and the order caps bound them per customer and per /64', async () => {
  const w = world();
  const none = await w.market.create('alice', { ...ask, cpu: 64 }, '5aa::/64');
  assert.deepEqual(none.sentTo, []);
  assert.match(w.market.view(none).note ?? '', /no connected node can fit/);
  await w.market.create('alice', ask, '5aa::/64');
  // maxOpen 2: a third open one, from alice or from her /64 under another identity, is refused.
  for (const who of ['alice', 'mallory']) {
    await assert.rejects(w.market.create(who, ask, '5aa::/64'), (err: unknown) => err instanceof PublicError && err.code === 'conflict' && err.extra?.limit === 'orders.maxUnpaid');
  }
  w.clock.advance(60 * 60_000);
  assert.equal(w.market.get('alice', none.id).state, 'expired');
  assert.equal(w.market.view(none).note, 'no connected node could fit this request; it expired with no bids');
  assert.ok(w.events.names().includes('market.request_expired'));
  await w.market.create('alice', ask, '5aa::/64');
  await assert.rejects(w.market.create('alice', ask, '5aa::/64'), (err: unknown) => err instanceof PublicError && err.code === 'rate_limited' && err.extra?.limit === 'orders.maxPerWindow');
});

test('the gateway holds at most market.maxRequests requests', async () => {
  const w = world({ maxHeld: 2, maxOpen: 10, maxPerWindow: 10 });
  await w.market.create('alice', ask);
  await w.market.create('bob', ask);
  await assert.rejects(w.market.create('carol', ask), (err: unknown) => err instanceof PublicError && err.code === 'unavailable');
});

test('bad requests: 400 naming the field', async () => {
  const w = world();
  const table: Array<[unknown, string]> = [
    [{ ...ask, cpu: 0 }, 'cpu'],
    [{ ...ask, memoryGb: 1.5 }, 'memoryGb'],
    [{ ...ask, maxPricePerHour: '-1' }, 'maxPricePerHour'],
    [{ ...ask, expiresInMinutes: 1441 }, 'expiresInMinutes'],
    [{ ...ask, hours: 0 }, 'hours'],
    [{ ...ask, nodes: [] }, 'nodes'],
    [{ ...ask, extra: 1 }, 'extra'],
  ];
  for (const [body, field] of table) {
    await assert.rejects(w.market.create('alice', body), (err: unknown) => err instanceof ValidationError && err.field === field, field);
  }
  assert.deepEqual(w.sent, []);
});
