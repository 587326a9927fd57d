// OrderService with a FakeProvisioner, a FakeTable store, an EmbeddedLedger in a scratch folder and a FakeClock: payment, provisioning retries, expiry, outages, validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { newIdentity, toBase64 } from '../../src/identity/index.js';
import { seal } from '../../src/identity/sealed-box.js';
import { bidOffer } from '../../src/gateway/market/record-offer.js';
import { signBid } from '../../src/protocol/bid.js';
import { depositOf, OrderService, type OrderPolicy } from '../../src/gateway/orders/order-service.js';
import { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import { OrderArchive } from '../../src/gateway/orders/order-archive.js';
import { LedgerUnavailableError, type Balance, type Ledger, type PostResult } from '../../src/gateway/ledger/ledger.js';
import { ProvisionError, type NodeCandidate, type Provisioner, type VmHandle, type VmSpec, type VmStatus } from '../../src/gateway/provision/provisioner.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import type { DeploymentRecord, OrderRecord } from '../../src/gateway/store/records.js';
import type { Offer } from '../../src/protocol/offer.js';
import { UNIT } from '../../src/protocol/money.js';
import { ValidationError } from '../../src/protocol/validate.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { FakeTable } from '../helpers/fake-table.js';
import { readVectors, scratchDir } from '../helpers/paths.js';

const HOUR_MS = 3_600_000;
const OFFERS: Record<string, Offer> = {
  small: { id: 'small', cpu: 1, memoryGb: 2, diskGb: 25, pricePerHourMicros: 50_000n, unit: UNIT },
  large: { id: 'large', cpu: 4, memoryGb: 8, diskGb: 100, pricePerHourMicros: 200_000n, unit: UNIT },
};
const SMALL_DEPOSIT = 1_200_000n; // 0.05 SPORE/h x 24 h
const POLICY: OrderPolicy = { depositMs: 24 * HOUR_MS, expireAfterMs: 30 * 60_000, maxProvisionAttempts: 3, maxOpenOrders: 5, maxPerWindow: 20, windowMs: 24 * HOUR_MS, maxSshKeyBytes: 16_384 };
const keys = readVectors<{ accepted: { line: string }[] }>('ssh-keys.json').accepted.map((k) => k.line);
const KEY = keys[0] as string;
const farmerOf = new Map(['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => [n, newIdentity().agent]));

/** What the FakeProvisioner does when asked to deploy on a node. */
type Outcome = 'ok' | 'retryable' | 'fatal';

/** A fake of the Provisioner port, named as one: scripted outcomes per node, and a record of every call. */
class FakeProvisioner implements Provisioner {
  readonly kind = 'agent' as const;
  readonly deploys: { deploymentId: string; node: string }[] = [];
  readonly destroys: { deploymentId: string; node: string }[] = [];
  /** VMs that exist now, by deployment id. */
  readonly live = new Map<string, string>();

  constructor(readonly nodes: string[], private readonly outcomes: Record<string, Outcome> = {}) {}

  candidateNodes(_offer: Offer): Promise<NodeCandidate[]> {
    return Promise.resolve(this.nodes.map((node) => ({ node, farmer: farmerOf.get(node) as string, freeSlots: 1 })));
  }

  async deploy(spec: VmSpec): Promise<VmHandle> {
    this.deploys.push({ deploymentId: spec.deploymentId, node: spec.node });
    await Promise.resolve();
    const outcome = this.outcomes[spec.node] ?? 'ok';
    if (outcome === 'retryable') throw new ProvisionError('deploy', `node ${spec.node} is out of memory`, true);
    if (outcome === 'fatal') throw new ProvisionError('deploy', `the image for ${spec.offer.id} does not exist`, false);
    this.live.set(spec.deploymentId, spec.node);
    return { deploymentId: spec.deploymentId, node: spec.node, myceliumIp: '4a5::1', ref: { vm: spec.name } };
  }

  destroy(vm: VmHandle): Promise<void> {
    this.destroys.push({ deploymentId: vm.deploymentId, node: vm.node });
    if (this.live.get(vm.deploymentId) === vm.node) this.live.delete(vm.deploymentId);
    return Promise.resolve();
  }

  pause(_vm: VmHandle): Promise<void> {
    return Promise.resolve();
  }

  resume(_vm: VmHandle): Promise<void> {
    return Promise.resolve();
  }

  status(vm: VmHandle): Promise<VmStatus> {
    return Promise.resolve(this.live.has(vm.deploymentId) ? 'running' : 'gone');
  }

  setSshKeys(_vm: VmHandle, _sshKeys: readonly string[]): Promise<void> {
    return Promise.resolve();
  }

  /** Deploy calls per (deployment, node): no pair may be deployed twice. */
  deployCounts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const d of this.deploys) out.set(`${d.deploymentId}@${d.node}`, (out.get(`${d.deploymentId}@${d.node}`) ?? 0) + 1);
    return out;
  }
}

/** A fake of the Ledger port, named as one: every call fails as an outage, until `up` is set. */
class FakeUnreachableLedger implements Ledger {
  readonly kind = 'unyt' as const;
  up = false;
  balanceMicros = 0n;
  calls = 0;

  balance(_customer: string): Promise<Balance> {
    this.calls++;
    if (!this.up) return Promise.reject(new LedgerUnavailableError('balance', 'connect ECONNREFUSED'));
    return Promise.resolve({ unit: UNIT, availableMicros: this.balanceMicros });
  }

  postBillingEvent(): Promise<PostResult> {
    return Promise.reject(new LedgerUnavailableError('postBillingEvent', 'connect ECONNREFUSED'));
  }

  payFarmer(): Promise<{ status: 'paid'; entryId: string }> {
    return Promise.reject(new LedgerUnavailableError('payFarmer', 'connect ECONNREFUSED'));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

interface Rig {
  svc: OrderService;
  clock: FakeClock;
  orders: FakeTable<OrderRecord>;
  archive: OrderArchive;
  deployments: FakeTable<DeploymentRecord>;
  events: FakeEventSink;
  provisioner: FakeProvisioner;
  ledger: Ledger;
  activated: DeploymentRecord[];
  arrears: Map<string, bigint>;
  fund(customer: string, micros: bigint): Promise<void>;
}

let fundCount = 0;

/** Runs `body` against an OrderService wired to fakes (and a real EmbeddedLedger unless `ledger` is given). */
async function withRig(
  options: { nodes?: string[]; outcomes?: Record<string, Outcome>; ledger?: Ledger; policy?: Partial<OrderPolicy>; historyPerCustomer?: number },
  body: (rig: Rig) => Promise<void>,
): Promise<void> {
  const scratch = scratchDir();
  const clock = new FakeClock();
  const ledger = options.ledger ?? EmbeddedLedger.open(join(scratch.dir, 'ledger'), () => clock.nowMs());
  const orders = new FakeTable<OrderRecord>();
  const archive = OrderArchive.open(join(scratch.dir, 'orders-archive.log'), options.historyPerCustomer ?? 100).archive;
  const deployments = new FakeTable<DeploymentRecord>();
  const events = new FakeEventSink();
  const provisioner = new FakeProvisioner(options.nodes ?? ['n1', 'n2', 'n3'], options.outcomes);
  const activated: DeploymentRecord[] = [];
  const arrears = new Map<string, bigint>();
  const svc = new OrderService({
    clock,
    store: { orders, deployments },
    archive,
    ledger,
    provisioner,
    events,
    log: pino({ enabled: false }),
    policy: { ...POLICY, ...options.policy },
    offer: (id) => OFFERS[id],
    offerIds: () => Object.keys(OFFERS),
    arrearsOf: (customer) => arrears.get(customer) ?? 0n,
    onActive: (d) => activated.push(d),
  });
  const fund = async (customer: string, micros: bigint): Promise<void> => {
    assert.ok(ledger.fund !== undefined, 'this ledger can be funded');
    await ledger.fund(customer, micros, `fund-${++fundCount}`);
  };
  try {
    await body({ svc, clock, orders, archive, deployments, events, provisioner, ledger, activated, arrears, fund });
  } finally {
    await svc.close();
    archive.close();
    await ledger.close();
    scratch.remove();
  }
}

/** An order wherever it is: the hot table, or the archive once it expired or failed. */
const order = (rig: Rig, id: string): OrderRecord => (rig.orders.get(id) ?? rig.archive.get(id)) as OrderRecord;

test('depositOf: the hourly price times the deposit time, rounded up to a micro', async (t) => {
  const table: { name: string; price: bigint; depositMs: number; expected: bigint }[] = [
    { name: '24 h of 0.05/h', price: 50_000n, depositMs: 24 * HOUR_MS, expected: SMALL_DEPOSIT },
    { name: 'one hour', price: 50_000n, depositMs: HOUR_MS, expected: 50_000n },
    { name: 'half an hour of 7 micros/h is 3.5: rounded up', price: 7n, depositMs: HOUR_MS / 2, expected: 4n },
    { name: 'one millisecond of 1 micro/h rounds up to 1', price: 1n, depositMs: 1, expected: 1n },
    { name: 'a free offer needs nothing', price: 0n, depositMs: 24 * HOUR_MS, expected: 0n },
    { name: 'no deposit time', price: 50_000n, depositMs: 0, expected: 0n },
  ];
  for (const c of table) {
    await t.test(c.name, () => assert.equal(depositOf({ ...(OFFERS.small as Offer), pricePerHourMicros: c.price }, c.depositMs), c.expected));
  }
});

test('an order stays awaiting_payment while the balance is under the deposit, then turns paid and active', async () => {
  await withRig({}, async (rig) => {
    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY], name: 'web-1' });
    assert.equal(o.state, 'awaiting_payment');
    assert.equal(o.deposit, '1.200000');
    assert.equal(o.pricePerHour, '0.050000');
    assert.deepEqual(o.sshKeys, [KEY]);

    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'awaiting_payment', 'nothing funded');
    await rig.fund('alice', SMALL_DEPOSIT - 1n);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'awaiting_payment', 'one micro short');
    assert.deepEqual(rig.svc.lastCheck(o.id), { atMs: rig.clock.nowMs(), status: 'not_covered', availableMicros: SMALL_DEPOSIT - 1n, requiredMicros: SMALL_DEPOSIT });
    assert.equal(rig.provisioner.deploys.length, 0, 'no VM exists before payment');
    assert.equal(rig.deployments.size(), 0);

    await rig.fund('alice', 1n);
    await rig.svc.advance(o.id);
    const done = order(rig, o.id);
    assert.equal(done.state, 'active');
    assert.ok(done.deployment?.startsWith('dep_'));
    const d = rig.deployments.get(done.deployment as string);
    assert.ok(d);
    assert.equal(d.state, 'active');
    assert.equal(d.customer, 'alice');
    assert.equal(d.node, 'n1');
    assert.equal(d.farmer, farmerOf.get('n1'));
    assert.equal(d.myceliumIp, '4a5::1');
    assert.deepEqual(d.sshKeys, [KEY]);
    assert.deepEqual(rig.activated.map((x) => x.id), [d.id]);
    assert.equal((await rig.ledger.balance('alice')).availableMicros, SMALL_DEPOSIT, 'the deposit is checked, not taken');
    const names = rig.events.names();
    for (const e of ['order.created', 'order.payment_checked', 'order.paid', 'order.provisioning', 'order.active', 'deployment.active']) assert.ok(names.includes(e), e);
    assert.ok(names.indexOf('order.paid') < names.indexOf('order.provisioning'));
    assert.equal(names.filter((n) => n === 'order.payment_checked').length, 1, 'an unchanged "not covered" is recorded once');

    await rig.svc.advance(o.id);
    assert.equal(rig.provisioner.deploys.length, 1, 'advancing an active order deploys nothing more');
  });
});

test('two advances at once deploy once', async () => {
  await withRig({}, async (rig) => {
    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await rig.fund('alice', SMALL_DEPOSIT);
    await Promise.all([rig.svc.advance(o.id), rig.svc.advance(o.id), rig.svc.advance(o.id)]);
    assert.equal(order(rig, o.id).state, 'active');
    assert.equal(rig.provisioner.deploys.length, 1);
    assert.equal(rig.deployments.size(), 1);
  });
});

test('a deploy that fails retryably on the first node is retried on another and succeeds', async () => {
  await withRig({ outcomes: { n1: 'retryable' } }, async (rig) => {
    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await rig.fund('alice', SMALL_DEPOSIT);
    await rig.svc.advance(o.id);
    const done = order(rig, o.id);
    assert.equal(done.state, 'active');
    assert.deepEqual(rig.provisioner.deploys.map((d) => d.node), ['n1', 'n2']);
    assert.ok(rig.provisioner.deploys.every((d) => d.deploymentId === done.deployment), 'one deployment id throughout');
    assert.equal(done.attempts.length, 1);
    assert.equal(done.attempts[0]?.node, 'n1');
    assert.match(done.attempts[0]?.error ?? '', /out of memory/);
    const d = rig.deployments.get(done.deployment as string);
    assert.equal(d?.node, 'n2');
    assert.equal(d?.farmer, farmerOf.get('n2'), 'the farmer is the one of the node it runs on');
    assert.deepEqual(rig.provisioner.destroys, [{ deploymentId: done.deployment, node: 'n1' }], 'the failed attempt is cleaned up');
    assert.deepEqual([...rig.provisioner.live], [[done.deployment, 'n2']]);
  });
});

test('when every node fails the order fails with a readable reason, and nothing is deployed twice', async (t) => {
  const cases = [
    { name: 'more nodes than attempts: stops at maxProvisionAttempts', nodes: ['n1', 'n2', 'n3', 'n4', 'n5'], attempts: 3 },
    { name: 'fewer nodes than attempts: stops when none is left', nodes: ['n1', 'n2'], attempts: 2 },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const outcomes = Object.fromEntries(c.nodes.map((n) => [n, 'retryable' as const]));
      await withRig({ nodes: c.nodes, outcomes }, async (rig) => {
        const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
        await rig.fund('alice', SMALL_DEPOSIT);
        await rig.svc.advance(o.id);
        const failed = order(rig, o.id);
        assert.equal(failed.state, 'failed');
        assert.equal(failed.failure, `could not deploy after ${c.attempts} attempt(s) (last: provision.deploy: node ${c.nodes[c.attempts - 1]} is out of memory); nothing was charged`);
        assert.equal(rig.provisioner.deploys.length, c.attempts);
        assert.ok([...rig.provisioner.deployCounts().values()].every((n) => n === 1), 'no (deployment, node) deployed twice');
        assert.equal(rig.provisioner.live.size, 0, 'no VM left behind');
        assert.equal(rig.deployments.size(), 0);
        assert.equal(rig.activated.length, 0);
        assert.ok(rig.events.names().includes('order.failed'));
        await rig.svc.advance(o.id);
        assert.equal(rig.provisioner.deploys.length, c.attempts, 'a failed order is not retried');
      });
    });
  }
});

test('a non-retryable failure stops retrying', async () => {
  await withRig({ outcomes: { n1: 'fatal' } }, async (rig) => {
    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await rig.fund('alice', SMALL_DEPOSIT);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'failed');
    assert.match(order(rig, o.id).failure ?? '', /after 1 attempt\(s\) .*does not exist/);
    assert.deepEqual(rig.provisioner.deploys.map((d) => d.node), ['n1']);
  });
});

test('with no node that has room the order fails saying so', async () => {
  await withRig({ nodes: [] }, async (rig) => {
    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await rig.fund('alice', SMALL_DEPOSIT);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'failed');
    assert.equal(order(rig, o.id).failure, 'no node has room for small right now; nothing was charged');
  });
});

test('a paid order with no node that has room waits for one (orders.roomWaitHours), saying so once, and is deployed when room appears', async () => {
  await withRig({ nodes: [], policy: { roomWaitMs: 10 * 60_000 } }, async (rig) => {
    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await rig.fund('alice', SMALL_DEPOSIT);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'paid', 'still paid, not failed');
    rig.clock.advance(5 * 60_000);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'paid');
    const waits = rig.events.events.filter((e) => e.event === 'order.waiting_for_room');
    assert.equal(waits.length, 1, 'said once');
    assert.match(waits[0]?.detail ?? '', /no node has room for small right now; trying again until 2026-01-01T00:10:00\.000Z/);
    rig.provisioner.nodes.push('n2');
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'active');
    assert.deepEqual(rig.provisioner.deploys.map((d) => d.node), ['n2']);
  });
});

test('a paid order still without room when the wait is over fails saying so, and nothing was deployed', async () => {
  await withRig({ nodes: [], policy: { roomWaitMs: 10 * 60_000 } }, async (rig) => {
    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await rig.fund('alice', SMALL_DEPOSIT);
    await rig.svc.advance(o.id);
    rig.clock.advance(10 * 60_000);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'failed');
    assert.equal(order(rig, o.id).failure, 'no node has room for small right now; nothing was charged');
    assert.deepEqual(rig.provisioner.deploys, []);
  });
});

test("an order from a bid whose secrets have no box for the bid's node (placed before accept checked it) fails at once saying so, not \"no room\" after the wait", async () => {
  await withRig({ nodes: ['n1', 'n2'], policy: { roomWaitMs: 10 * 60_000 } }, async (rig) => {
    const farmer = newIdentity();
    const bid = signBid(farmer.secretKey, { request: 'req_1', gateway: newIdentity().agent, farmer: farmer.agent, node: 'n1', cpu: 1, memoryGb: 2, diskGb: 25, pricePerHour: '0.050000', unit: UNIT, validUntilMs: rig.clock.nowMs() + HOUR_MS });
    const box = toBase64(seal(farmer.agent, new Uint8Array(16)));
    // place() is what accept calls after its checks: an order stored by an older gateway came this way unchecked.
    const o = await rig.svc.place('alice', bidOffer(bid), { sshKeys: [KEY], secrets: [{ name: 'db.env', sealed: { n2: box } }], bid });
    await rig.fund('alice', SMALL_DEPOSIT);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'failed', 'failed at once: no node could ever run it');
    assert.equal(order(rig, o.id).failure, "your secrets are not sealed to n1, the node of the bid you accepted (they name n2): the VM could run nowhere else; nothing was charged");
    assert.deepEqual(rig.provisioner.deploys, []);
  });
});

test('after a crash mid-provisioning the same deployment is deployed again on the same node', async () => {
  await withRig({}, async (rig) => {
    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await rig.orders.put(o.id, { ...o, state: 'provisioning', deployment: 'dep_crashed', node: 'n2', farmer: farmerOf.get('n2') });
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'active');
    assert.deepEqual(rig.provisioner.deploys, [{ deploymentId: 'dep_crashed', node: 'n2' }]);
  });
});

test('unpaid orders expire at expireAfterMs, not a millisecond before', async () => {
  await withRig({}, async (rig) => {
    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    assert.equal(o.expiresAtMs, rig.clock.nowMs() + POLICY.expireAfterMs);
    rig.clock.advance(POLICY.expireAfterMs - 1);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'awaiting_payment');
    rig.clock.advance(1);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'expired');
    await rig.fund('alice', SMALL_DEPOSIT);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'expired', 'funding later does not revive it');
    assert.equal(rig.provisioner.deploys.length, 0);
  });
});

test('a ledger outage keeps the order awaiting_payment (it is not "unpaid"), and it goes on once the ledger is back', async () => {
  const ledger = new FakeUnreachableLedger();
  await withRig({ ledger }, async (rig) => {
    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    for (let i = 0; i < 3; i++) {
      await rig.svc.advance(o.id);
      rig.clock.advance(60_000);
    }
    assert.equal(ledger.calls, 3);
    assert.equal(order(rig, o.id).state, 'awaiting_payment');
    assert.equal(rig.svc.lastCheck(o.id)?.status, 'unavailable');
    assert.equal(rig.events.names().filter((n) => n === 'order.payment_unavailable').length, 1, 'the outage is recorded once, not every check');
    assert.equal(rig.provisioner.deploys.length, 0);
    ledger.up = true;
    ledger.balanceMicros = SMALL_DEPOSIT;
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'active');
  });
});

test('the deposit required counts the deposits of the customer\'s running VMs and arrears', async () => {
  await withRig({}, async (rig) => {
    const running = (id: string, customer: string, offer: string, state: DeploymentRecord['state']): DeploymentRecord => ({
      id,
      order: `ord_${id}`,
      customer,
      offer,
      name: id,
      pricePerHour: '0.050000',
      unit: UNIT,
      sshKeys: [KEY],
      provisioner: 'agent',
      node: 'n1',
      farmer: farmerOf.get('n1') as string,
      myceliumIp: '4a5::9',
      vmRef: {},
      state,
      createdAtMs: 0,
    });
    await rig.deployments.put('d1', running('d1', 'alice', 'large', 'active'));
    await rig.deployments.put('d2', running('d2', 'alice', 'small', 'grace'));
    await rig.deployments.put('d3', running('d3', 'alice', 'large', 'deprovisioned'));
    await rig.deployments.put('d4', running('d4', 'alice', 'small', 'provisioning'));
    await rig.deployments.put('d5', running('d5', 'bob', 'large', 'active'));
    rig.arrears.set('alice', 777n);
    // this order + large (active) + small (grace) + small (provisioning: reserved too) + arrears
    const required = SMALL_DEPOSIT + 4_800_000n + SMALL_DEPOSIT + SMALL_DEPOSIT + 777n;

    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await rig.fund('alice', required - 1n);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'awaiting_payment');
    assert.equal(rig.svc.lastCheck(o.id)?.requiredMicros, required);
    assert.match(rig.events.events.find((e) => e.event === 'order.payment_checked')?.detail ?? '', /deposits of running VMs and arrears/);
    await rig.fund('alice', 1n);
    await rig.svc.advance(o.id);
    assert.equal(order(rig, o.id).state, 'active');
  });
});

test('bad order bodies give ValidationError naming the field, and store nothing', async (t) => {
  const sixteenPlus = Array.from({ length: 100 }, () => KEY);
  const cases: { name: string; body: unknown; field: string }[] = [
    { name: 'an unknown offer', body: { offer: 'huge', sshKeys: [KEY] }, field: 'offer' },
    { name: 'no offer', body: { sshKeys: [KEY] }, field: 'offer' },
    { name: 'a bad key', body: { offer: 'small', sshKeys: ['ssh-ed25519 AAAA'] }, field: 'sshKeys[0]' },
    { name: 'a bad second key', body: { offer: 'small', sshKeys: [KEY, 'ssh-rsa notbase64!'] }, field: 'sshKeys[1]' },
    { name: 'an empty key list', body: { offer: 'small', sshKeys: [] }, field: 'sshKeys' },
    { name: '100 keys', body: { offer: 'small', sshKeys: sixteenPlus }, field: 'sshKeys' },
    { name: 'keys not in a list', body: { offer: 'small', sshKeys: KEY }, field: 'sshKeys' },
    { name: 'an unknown field (a typo)', body: { offer: 'small', sshkeys: [KEY] }, field: 'sshkeys' },
    { name: 'a bad name', body: { offer: 'small', sshKeys: [KEY], name: 'Web 1' }, field: 'name' },
    { name: 'not an object', body: [KEY], field: 'body' },
    { name: 'null', body: null, field: 'body' },
  ];
  await withRig({}, async (rig) => {
    for (const c of cases) {
      await t.test(c.name, async () => {
        await assert.rejects(rig.svc.create('alice', c.body), (e: unknown) => e instanceof ValidationError && e.field === c.field);
      });
    }
    assert.equal(rig.orders.size(), 0);
    assert.equal(rig.events.events.length, 0);
  });
});

test('an unknown offer names the offers there are', async () => {
  await withRig({}, async (rig) => {
    await assert.rejects(rig.svc.create('alice', { offer: 'huge', sshKeys: [KEY] }), (e: unknown) => e instanceof ValidationError && e.hint === 'offers: small, large (GET /v1/offers)');
  });
});

test('a customer may have at most maxOpenOrders unpaid orders; others are not affected', async () => {
  await withRig({ policy: { maxOpenOrders: 2 } }, async (rig) => {
    await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await assert.rejects(rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] }), (e: unknown) => e instanceof PublicError && e.code === 'conflict');
    await rig.svc.create('bob', { offer: 'small', sshKeys: [KEY] });
    assert.equal(rig.orders.size(), 3);
  });
});

test('another customer\'s order is not found', async () => {
  await withRig({}, async (rig) => {
    const o = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    assert.equal(rig.svc.get('alice', o.id).id, o.id);
    assert.throws(() => rig.svc.get('bob', o.id), (e: unknown) => e instanceof PublicError && e.code === 'not_found');
    assert.deepEqual(rig.svc.list('bob'), []);
  });
});

test('with a balance of exactly one deposit, 10 orders advanced at once: exactly one is paid and active', async () => {
  await withRig({ policy: { maxOpenOrders: 10 } }, async (rig) => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] })).id);
    await rig.fund('alice', SMALL_DEPOSIT);
    await Promise.all(ids.map((id) => rig.svc.advance(id)));
    const states = ids.map((id) => order(rig, id).state);
    assert.equal(states.filter((s) => s === 'active').length, 1, `states: ${states.join(', ')}`);
    assert.equal(states.filter((s) => s === 'awaiting_payment').length, 9);
    assert.equal(rig.provisioner.deploys.length, 1, 'one VM deployed');
    const waiting = ids.find((id) => order(rig, id).state === 'awaiting_payment') as string;
    assert.equal(rig.svc.lastCheck(waiting)?.requiredMicros, 2n * SMALL_DEPOSIT, 'the next order needs its own deposit on top of the running one');
  });
});

test('an order paid or being deployed (no deployment yet) reserves its deposit', async (t) => {
  for (const state of ['paid', 'provisioning'] as const) {
    await t.test(state, async () => {
      await withRig({ nodes: [] }, async (rig) => {
        const a = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
        const b = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
        await rig.fund('alice', SMALL_DEPOSIT);
        // As a crash between paying and deploying leaves it: paid, a deployment id chosen, no deployment record.
        await rig.orders.put(a.id, { ...order(rig, a.id), state, paidAtMs: rig.clock.nowMs(), deployment: 'dep_0000000000000001', ...(state === 'provisioning' ? { node: 'n1' } : {}) });
        await rig.svc.advance(b.id);
        assert.equal(order(rig, b.id).state, 'awaiting_payment');
        assert.equal(rig.svc.lastCheck(b.id)?.requiredMicros, 2n * SMALL_DEPOSIT);
      });
    });
  }
});

test('an order whose SSH keys add up to more than orders.maxSshKeyBytes is refused with 413 naming sshKeys, and nothing is stored', async () => {
  await withRig({ policy: { maxSshKeyBytes: 16_384 } }, async (rig) => {
    // Each line is a real key with a 7,000-character comment: under the 8 KB line limit, over 16 KB together.
    const long = keys.slice(0, 3).map((k, i) => `${k.split(' ').slice(0, 2).join(' ')} ${String(i).repeat(7000)}`);
    await assert.rejects(rig.svc.create('alice', { offer: 'small', sshKeys: long }), (e: unknown) => {
      assert.ok(e instanceof PublicError);
      assert.equal(e.status, 413);
      assert.equal(e.code, 'payload_too_large');
      assert.equal(e.extra.field, 'sshKeys');
      assert.equal(e.extra.limit, 'orders.maxSshKeyBytes');
      assert.match(e.message, /orders\.maxSshKeyBytes/);
      return true;
    });
    assert.equal(rig.orders.size(), 0);
    assert.equal(rig.events.events.length, 0);
    const two = await rig.svc.create('alice', { offer: 'small', sshKeys: long.slice(0, 2) });
    assert.equal(two.sshKeys.length, 2, 'two such keys (14 KB) fit');
  });
});

test('orders beyond orders.maxPerWindow in the window are refused with 429 naming the limit, expired ones included; the window moves on', async () => {
  await withRig({ policy: { maxPerWindow: 4, maxOpenOrders: 10, windowMs: 24 * HOUR_MS, expireAfterMs: 60_000 } }, async (rig) => {
    const first = [];
    for (let i = 0; i < 4; i++) first.push(await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] }));
    // Let them expire: an expired order still counts (making and dropping orders is the abuse).
    rig.clock.advance(60_000);
    for (const o of first) await rig.svc.advance(o.id);
    assert.ok(first.every((o) => order(rig, o.id).state === 'expired'));
    await assert.rejects(rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] }), (e: unknown) => {
      assert.ok(e instanceof PublicError);
      assert.equal(e.status, 429);
      assert.equal(e.code, 'rate_limited');
      assert.equal(e.extra.limit, 'orders.maxPerWindow');
      assert.equal(e.extra.retryAfterSeconds, 24 * 3600 - 60);
      assert.match(e.message, /4 orders in the last 24 h \(orders\.maxPerWindow\)/);
      return true;
    });
    assert.equal((await rig.svc.create('bob', { offer: 'small', sshKeys: [KEY] })).customer, 'bob', 'another customer is not limited by alice');
    rig.clock.advance(24 * HOUR_MS - 60_000);
    assert.equal((await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] })).state, 'awaiting_payment', 'a window later alice may order again');
  });
});

test('the unpaid-orders limit names orders.maxUnpaid', async () => {
  await withRig({ policy: { maxOpenOrders: 2 } }, async (rig) => {
    for (let i = 0; i < 2; i++) await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await assert.rejects(rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] }), (e: unknown) => e instanceof PublicError && e.status === 409 && e.extra.limit === 'orders.maxUnpaid' && /orders\.maxUnpaid = 2/.test(e.message));
  });
});

test('expired and failed orders leave the hot table for the archive, and are still listed and readable by their customer', async () => {
  await withRig({ nodes: [], policy: { expireAfterMs: 60_000 } }, async (rig) => {
    const expiring = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    rig.clock.advance(1);
    const failing = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    rig.clock.advance(1);
    const open = await rig.svc.create('alice', { offer: 'small', sshKeys: [KEY] });
    await rig.fund('alice', SMALL_DEPOSIT);
    await rig.svc.advance(failing.id); // paid, then no node has room: failed
    rig.clock.advance(60_000);
    await rig.svc.advance(expiring.id);
    assert.equal(rig.orders.get(expiring.id), undefined, 'the expired order left the hot table');
    assert.equal(rig.orders.get(failing.id), undefined, 'the failed order left the hot table');
    assert.deepEqual(rig.orders.values().map((o) => o.id), [open.id]);
    assert.equal(rig.svc.get('alice', expiring.id).state, 'expired');
    assert.equal(rig.svc.get('alice', failing.id).state, 'failed');
    assert.match(rig.svc.get('alice', failing.id).failure ?? '', /no node has room/);
    assert.throws(() => rig.svc.get('bob', failing.id), (e: unknown) => e instanceof PublicError && e.status === 404, "another customer's archived order is not found");
    assert.deepEqual(rig.svc.list('alice').map((o) => [o.id, o.state]), [[expiring.id, 'expired'], [failing.id, 'failed'], [open.id, 'awaiting_payment']]);
    await rig.svc.advance(expiring.id); // advancing an archived order changes nothing
    assert.equal(rig.archive.count, 2);
  });
});

test('the archive is an append-only file: archived orders come back after a reopen, and each customer keeps its newest in memory', async () => {
  const scratch = scratchDir();
  try {
    const path = join(scratch.dir, 'orders-archive.log');
    const base: OrderRecord = { id: 'x', customer: 'alice', offer: 'small', name: 'x', sshKeys: [KEY], pricePerHour: '0.050000', deposit: '1.200000', unit: UNIT, state: 'expired', createdAtMs: 0, expiresAtMs: 1, attempts: [] };
    const first = OrderArchive.open(path, 3).archive;
    for (let i = 0; i < 5; i++) await first.add({ ...base, id: `ord_${i}`, createdAtMs: i });
    await first.add({ ...base, id: 'ord_b', customer: 'bob' });
    await first.add({ ...base, id: 'ord_4', state: 'failed', createdAtMs: 4 }); // archived twice (a crash between archive and delete): the later copy wins
    first.close();
    const { archive } = OrderArchive.open(path, 3);
    assert.equal(archive.count, 7, 'every line is kept on disk');
    assert.deepEqual(archive.of('alice').map((o) => o.id), ['ord_2', 'ord_3', 'ord_4'], 'the newest 3 of alice, oldest first');
    assert.equal(archive.get('ord_4')?.state, 'failed');
    assert.equal(archive.get('ord_0'), undefined, 'older ones stay on disk only');
    assert.deepEqual(archive.of('bob').map((o) => o.id), ['ord_b']);
    archive.close();
  } finally {
    scratch.remove();
  }
});

test('a fresh identity linked to the same /64 does not get fresh order caps: unpaid and per-window limits count the /64 too', async () => {
  await withRig({ policy: { maxPerWindow: 4, maxOpenOrders: 3, expireAfterMs: 60_000 } }, async (rig) => {
    const subnet = '4a1:2:3:4::/64';
    for (let i = 0; i < 3; i++) await rig.svc.create('key-1', { offer: 'small', sshKeys: [KEY] }, subnet);
    await assert.rejects(rig.svc.create('key-2', { offer: 'small', sshKeys: [KEY] }, subnet), (e: unknown) => e instanceof PublicError && e.extra.limit === 'orders.maxUnpaid' && e.message.includes(subnet));
    // key-1's orders expire (and are archived): key-2, linked to the same /64 since, still finds the window full after one more.
    rig.clock.advance(60_000);
    for (const o of rig.svc.list('key-1')) await rig.svc.advance(o.id);
    assert.equal(rig.orders.size(), 0, 'all archived');
    assert.equal((await rig.svc.create('key-2', { offer: 'small', sshKeys: [KEY] }, subnet)).subnet, subnet);
    await assert.rejects(rig.svc.create('key-3', { offer: 'small', sshKeys: [KEY] }, subnet), (e: unknown) => e instanceof PublicError && e.status === 429 && e.extra.limit === 'orders.maxPerWindow');
    assert.equal((await rig.svc.create('key-3', { offer: 'small', sshKeys: [KEY] }, '4a1:2:3:5::/64')).customer, 'key-3', 'from another /64 the new identity may order');
  });
});
