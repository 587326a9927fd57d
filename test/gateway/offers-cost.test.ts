// GET /v1/offers' cost: slot counts come from a per-node capacity index kept on writes and a short cache, never from scanning deployments and orders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Offer } from '../../src/protocol/offer.js';
import type { DeploymentRecord, OrderRecord, OrderState, DeploymentState } from '../../src/gateway/store/records.js';
import type { NodeView } from '../../src/gateway/agents/agent-hub.js';
import { AgentProvisioner } from '../../src/gateway/provision/agent-provisioner.js';
import { CapacityIndex, deploymentTaking, orderTaking, watchWrites } from '../../src/gateway/provision/capacity-index.js';
import { OfferSlots } from '../../src/gateway/provision/offer-slots.js';
import { ProvisionError, type NodeCandidate, type Provisioner } from '../../src/gateway/provision/provisioner.js';
import { FakeTable } from '../helpers/fake-table.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { SeededRandom, testSeed } from '../helpers/seeded-random.js';

/** FakeTable that also counts full scans (values()), the read that made /v1/offers cost seconds. */
class CountingTable<T> extends FakeTable<T> {
  scans = 0;
  override values(): T[] {
    this.scans++;
    return super.values();
  }
}

const OFFERS: readonly Offer[] = [
  { id: 'small', cpu: 1, memoryGb: 2, diskGb: 25, pricePerHourMicros: 50_000n, unit: 'SPORE' },
  { id: 'medium', cpu: 2, memoryGb: 4, diskGb: 50, pricePerHourMicros: 100_000n, unit: 'SPORE' },
  { id: 'large', cpu: 4, memoryGb: 16, diskGb: 100, pricePerHourMicros: 300_000n, unit: 'SPORE' },
];
const OFFER_BY_ID = new Map(OFFERS.map((o) => [o.id, o]));
const NODES = 20;
const nodeId = (i: number): string => `node-${i}`;
const DEPLOYMENT_STATES: readonly DeploymentState[] = ['provisioning', 'active', 'grace', 'deprovisioned'];
const ORDER_STATES: readonly OrderState[] = ['awaiting_payment', 'paid', 'provisioning', 'active', 'failed', 'expired'];

function deployment(r: SeededRandom, i: number): DeploymentRecord {
  const state = r.pick(DEPLOYMENT_STATES);
  return {
    id: `dep_${i}`,
    order: `ord_${i}`,
    customer: 'uhCAkcustomer',
    offer: r.pick(OFFERS).id,
    name: `vm${i}`,
    pricePerHour: '0.050000',
    unit: 'SPORE',
    sshKeys: [],
    provisioner: 'agent',
    node: nodeId(r.int(0, NODES - 1)),
    farmer: 'uhCAkfarmer',
    myceliumIp: '',
    vmRef: {},
    state,
    createdAtMs: i,
    ...(state === 'deprovisioned' ? { destroyed: r.pick([true, false, undefined]) } : {}),
  };
}

function order(r: SeededRandom, i: number): OrderRecord {
  const state = r.pick(ORDER_STATES);
  return {
    id: `ord_${i}`,
    customer: 'uhCAkcustomer',
    offer: r.pick(OFFERS).id,
    name: `vm${i}`,
    sshKeys: [],
    pricePerHour: '0.050000',
    deposit: '1.200000',
    unit: 'SPORE',
    state,
    createdAtMs: i,
    expiresAtMs: i + 1,
    ...(state === 'provisioning' || r.int(0, 3) === 0 ? { node: nodeId(r.int(0, NODES - 1)) } : {}),
    attempts: [],
  };
}

/** Nodes as the agent hub reports them: connected, up, each with room for about 64 small VMs. */
function nodeViews(): NodeView[] {
  return Array.from({ length: NODES }, (_, i) => ({ id: nodeId(i), farmer: 'uhCAkfarmer', connected: true, up: true, capacity: { cpu: 64, memoryGb: 256, diskGb: 4000 } }));
}

interface World {
  readonly deployments: CountingTable<DeploymentRecord>;
  readonly orders: CountingTable<OrderRecord>;
  readonly slots: OfferSlots;
  /** How many times the provisioner read the node list. */
  readonly nodeReads: { n: number };
}

/** The gateway's wiring (gateway.ts) over fake tables: the index fed by writes, the agent provisioner, the cache. */
async function world(deploymentCount: number, orderCount: number, seed: number): Promise<World> {
  const r = new SeededRandom(seed);
  const deployments = new CountingTable<DeploymentRecord>();
  const orders = new CountingTable<OrderRecord>();
  const index = new CapacityIndex(OFFER_BY_ID, [], []);
  const dw = watchWrites(deployments, (b, a) => index.deploymentChanged(b, a));
  const ow = watchWrites(orders, (b, a) => index.orderChanged(b, a));
  for (let i = 0; i < deploymentCount; i++) await dw.put(`dep_${i}`, deployment(r, i));
  for (let i = 0; i < orderCount; i++) await ow.put(`ord_${i}`, order(r, i));
  const nodeReads = { n: 0 };
  const provisioner = new AgentProvisioner({
    nodes: () => {
      nodeReads.n++;
      return nodeViews();
    },
    usedOn: (node) => index.usedOn(node),
    command: () => Promise.reject(new Error('not used')),
    commandTimeoutMs: 1000,
  });
  deployments.scans = 0;
  orders.scans = 0;
  return { deployments, orders, nodeReads, slots: new OfferSlots(provisioner, () => OFFERS, new FakeClock(), 2000) };
}

test('one GET /v1/offers reads no deployment or order, whether there are 250 or 25,000 of them', async () => {
  const seed = testSeed();
  const small = await world(50, 200, seed);
  const large = await world(5_000, 20_000, seed);
  for (const w of [small, large]) {
    const answer = await w.slots.all();
    assert.equal(answer.size, OFFERS.length);
    assert.equal(w.deployments.scans, 0, `no scan of deployments (seed ${seed})`);
    assert.equal(w.orders.scans, 0, 'no scan of orders');
    assert.equal(w.nodeReads.n, OFFERS.length, 'the node list is read once per offer: O(offers × nodes), not × records');
  }
});

test('the index always equals the sum over the records, through puts that change state, node and offer (property)', async () => {
  const seed = testSeed();
  const r = new SeededRandom(seed);
  const deployments = new FakeTable<DeploymentRecord>();
  const orders = new FakeTable<OrderRecord>();
  const index = new CapacityIndex(OFFER_BY_ID, [], []);
  const dw = watchWrites(deployments, (b, a) => index.deploymentChanged(b, a));
  const ow = watchWrites(orders, (b, a) => index.orderChanged(b, a));
  for (let step = 0; step < 3000; step++) {
    const i = r.int(0, 300);
    const which = r.int(0, 4);
    if (which === 0) await dw.delete(`dep_${i}`);
    else if (which === 1) await ow.delete(`ord_${i}`);
    else if (which === 2) await dw.put(`dep_${i}`, deployment(r, i));
    else await ow.put(`ord_${i}`, order(r, i));
  }
  // Rebuilt from scratch must agree too (that is how the gateway starts).
  const rebuilt = new CapacityIndex(OFFER_BY_ID, deployments.values(), orders.values());
  for (let n = 0; n < NODES; n++) {
    const want = { cpu: 0, memoryGb: 0, diskGb: 0 };
    const takings = [...deployments.values().map(deploymentTaking), ...orders.values().map(orderTaking)];
    for (const t of takings) {
      if (!t || t.node !== nodeId(n)) continue;
      const o = OFFER_BY_ID.get(t.offer)!;
      want.cpu += o.cpu;
      want.memoryGb += o.memoryGb;
      want.diskGb += o.diskGb;
    }
    assert.deepEqual(index.usedOn(nodeId(n)), want, `node ${n}, seed ${seed}`);
    assert.deepEqual(rebuilt.usedOn(nodeId(n)), want, `rebuilt, node ${n}`);
  }
});

/** A fake of the Provisioner port's candidateNodes (provisioner.ts) that counts calls and can fail. */
class CountingProvisioner implements Pick<Provisioner, 'candidateNodes'> {
  calls = 0;
  fail = false;
  candidateNodes(offer: Offer): Promise<NodeCandidate[]> {
    this.calls++;
    if (this.fail) return Promise.reject(new ProvisionError('candidateNodes', 'the grid proxy answered 502', true));
    return Promise.resolve([{ node: 'n1', farmer: 'uhCAkf', freeSlots: 10 / offer.cpu }]);
  }
}

test('the slot counts are computed once per TTL, shared by concurrent callers, and a failure is kept as long', async () => {
  const p = new CountingProvisioner();
  const clock = new FakeClock();
  const slots = new OfferSlots(p, () => OFFERS, clock, 30_000);
  const answers = await Promise.all(Array.from({ length: 50 }, () => slots.all()));
  assert.equal(p.calls, OFFERS.length, '50 callers at once: the provisioner asked once per offer');
  assert.deepEqual([...answers[0]!.entries()], [['small', 10], ['medium', 5], ['large', 2.5]]);
  clock.advance(29_999);
  await slots.all();
  assert.equal(p.calls, OFFERS.length, 'still cached just before the TTL');
  clock.advance(1);
  p.fail = true;
  await assert.rejects(slots.all(), ProvisionError);
  const afterFailure = p.calls;
  await assert.rejects(slots.all(), ProvisionError);
  assert.equal(p.calls, afterFailure, 'a failure is not retried by every caller');
  clock.advance(30_000);
  p.fail = false;
  assert.equal((await slots.all()).get('small'), 10);
});
