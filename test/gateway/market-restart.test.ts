// Capacity requests survive a gateway restart on both store backends: open requests, their bids, the finished ones that count against the caps, and the total bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { newIdentity } from '../../src/identity/index.js';
import { MarketService, type MarketPolicy } from '../../src/gateway/market/market-service.js';
import type { NodeView } from '../../src/gateway/agents/agent-hub.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import { LowdbStore } from '../../src/gateway/store/lowdb-store.js';
import type { OrderRecord } from '../../src/gateway/store/records.js';
import type { Store } from '../../src/gateway/store/store.js';
import { signBid } from '../../src/protocol/bid.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { scratchDir } from '../helpers/paths.js';
import { BACKENDS } from '../helpers/store-backends.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJwNGHzv2uT5UPGIxiHH7zW9K70Vt2MzQ53aJjDn2BQF alice@laptop';
const gateway = newIdentity();
const farmer = newIdentity();
const nodes: NodeView[] = [{ id: 'node-a', farmer: farmer.agent, connected: true, up: true, capacity: { cpu: 8, memoryGb: 32, diskGb: 500 } }];
const POLICY: MarketPolicy = { maxOpen: 2, maxPerWindow: 5, windowMs: 86_400_000, maxHeld: 3, maxExpiresInMinutes: 1440, maxSshKeyBytes: 8192, provisioner: 'agent' };
const ask = { cpu: 1, memoryGb: 2, diskGb: 20, maxPricePerHour: '0.05' };

/** A market over `store`'s requests table, as the gateway wires it (billing-part.ts), orders recorded in `placed`. */
function marketOn(store: Store, clock: FakeClock, placed: string[]): MarketService {
  return new MarketService({
    clock,
    gateway: gateway.agent,
    unit: 'SPORE',
    events: new FakeEventSink(),
    log: pino({ level: 'silent' }),
    policy: POLICY,
    table: store.requests,
    nodes: () => nodes,
    usedOn: () => ({ cpu: 0, memoryGb: 0, diskGb: 0 }),
    send: () => true,
    recordOf: () => ({ upBps: null, periods: 0, disputes: 0 }),
    placeOrder: (customer, offer, terms) => {
      placed.push(terms.bid?.request ?? '');
      return Promise.resolve({ id: `ord_${placed.length}`, customer, offer: offer.id } as unknown as OrderRecord);
    },
  });
}

for (const backend of BACKENDS) {
  test(`${backend.name}: after a restart the open request, its bid and the expired one are still there; the caps still count them, and the bid can be accepted`, { skip: backend.skip }, async (t) => {
    const place = await backend.create();
    t.after(place.remove);
    const clock = new FakeClock();
    const placed: string[] = [];
    const first = await place.open();
    const before = marketOn(first.store, clock, placed);
    const open = await before.create('alice', { ...ask, expiresInMinutes: 120 });
    const short = await before.create('alice', { ...ask, expiresInMinutes: 10 });
    const bid = signBid(farmer.secretKey, { request: open.id, gateway: gateway.agent, farmer: farmer.agent, node: 'node-a', cpu: 1, memoryGb: 2, diskGb: 20, pricePerHour: '0.020000', unit: 'SPORE', validUntilMs: clock.nowMs() + 3_600_000 });
    await before.onBid(farmer.agent, ['node-a'], bid);
    clock.advance(15 * 60_000);
    assert.deepEqual(before.list('alice').map((r) => r.state), ['open', 'expired']);
    await first.store.flush();
    await first.close();

    const second = await place.open();
    t.after(second.close);
    const after = marketOn(second.store, clock, placed);
    assert.deepEqual(after.list('alice').map((r) => [r.id, r.state]), [[open.id, 'open'], [short.id, 'expired']], 'both requests, in order, with their states');
    assert.deepEqual(after.view(after.get('alice', open.id)), before.view(open), 'the same request as before the restart');
    assert.deepEqual(after.listing(after.get('alice', open.id)).bids.map((b) => [b.node, b.pricePerHour, b.signature]), [['node-a', '0.020000', bid.signature]], 'its bid is still there to accept');
    assert.throws(() => after.get('bob', open.id), (e: unknown) => e instanceof PublicError && e.status === 404, "still alice's only");

    // The bounds count what was kept: alice's open one plus a new one is her cap of 2 open; the gateway's 3 held is then full.
    await after.create('alice', { ...ask, expiresInMinutes: 60 });
    await assert.rejects(after.create('alice', { ...ask, expiresInMinutes: 60 }), (e: unknown) => e instanceof PublicError && e.status === 409 && /2 open requests/.test(e.message));
    await assert.rejects(after.create('bob', { ...ask, expiresInMinutes: 60 }), (e: unknown) => e instanceof PublicError && e.status === 503 && /holds 3 requests/.test(e.message));

    await after.accept('alice', open.id, { bid, sshKeys: [KEY] });
    assert.deepEqual(placed, [open.id]);
    await second.store.flush();
    assert.equal(second.store.requests.get(open.id)?.state, 'accepted', 'the acceptance is stored too, so it cannot be accepted twice after another restart');
    assert.equal(second.store.requests.get(short.id)?.state, 'expired');
  });
}

test('LowdbStore: a db.json written before requests were kept opens, with no requests', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const store = await LowdbStore.open(dir);
  await store.close();
  const path = join(dir, 'db.json');
  const data = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  delete data.requests;
  writeFileSync(path, JSON.stringify(data), { mode: 0o600 });
  const again = await LowdbStore.open(dir);
  t.after(() => again.close());
  assert.equal(again.requests.size(), 0);
  await again.requests.put('req_1', { id: 'req_1' } as never);
  assert.equal(again.requests.size(), 1);
});
