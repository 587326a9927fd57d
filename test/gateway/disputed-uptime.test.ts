// The disputed up-time rule (a pure function) and its use by billing: a VM whose probes disagree with its agent is billed the smaller up-time, and the dispute is on the receipt and the timeline.
import { deploymentRecord } from '../helpers/deployment-record.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { billableUptime, type BilledUptime, type UptimeEvidence } from '../../src/gateway/uptime/disputed-uptime.js';
import { BillingService } from '../../src/gateway/billing/billing-service.js';
import { receiptBodyFor, type ReceiptInputs } from '../../src/gateway/billing/receipt-body.js';
import { ReceiptLog } from '../../src/gateway/billing/receipt-log.js';
import { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import { ProbeService } from '../../src/gateway/uptime/probe-service.js';
import { UptimeBook } from '../../src/gateway/uptime/uptime-book.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';
import { createSigner, newIdentity } from '../../src/identity/index.js';
import { verifyReceipt } from '../../src/protocol/receipt.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { FakeTable } from '../helpers/fake-table.js';
import { scratchDir } from '../helpers/paths.js';

const HOUR = 3_600_000;
const INTERVAL = 15_000;
const T0 = Date.UTC(2026, 0, 1);

/** dep_1: an active VM of a fresh customer on a fresh farmer's node. */
const deployment = (over: Partial<DeploymentRecord> = {}): DeploymentRecord => deploymentRecord('dep_1', { customer: newIdentity().agent, farmer: newIdentity().agent, name: 'vm', order: 'ord_1', ...over }, T0);

test('billableUptime: the agent is billed without a dispute; with one, the smaller of the two sides', async (t) => {
  const table: Array<{ name: string; e: UptimeEvidence; expected: BilledUptime }> = [
    { name: 'no dispute: the agent, even if the probes saw less', e: { agentUpSeconds: 3600, gatewayUpSeconds: 100, disputed: false }, expected: { upSeconds: 3600, dispute: null } },
    { name: 'no probes: the agent', e: { agentUpSeconds: 3600, gatewayUpSeconds: null, disputed: true }, expected: { upSeconds: 3600, dispute: null } },
    { name: 'disputed, the gateway saw less: the gateway', e: { agentUpSeconds: 3600, gatewayUpSeconds: 1200, disputed: true }, expected: { upSeconds: 1200, dispute: { agentUpSeconds: 3600, gatewayUpSeconds: 1200 } } },
    { name: 'disputed, the agent reported less: the agent', e: { agentUpSeconds: 600, gatewayUpSeconds: 3600, disputed: true }, expected: { upSeconds: 600, dispute: { agentUpSeconds: 600, gatewayUpSeconds: 3600 } } },
    { name: 'disputed, the gateway saw nothing up: zero', e: { agentUpSeconds: 3600, gatewayUpSeconds: 0, disputed: true }, expected: { upSeconds: 0, dispute: { agentUpSeconds: 3600, gatewayUpSeconds: 0 } } },
    { name: 'disputed, both zero', e: { agentUpSeconds: 0, gatewayUpSeconds: 0, disputed: true }, expected: { upSeconds: 0, dispute: { agentUpSeconds: 0, gatewayUpSeconds: 0 } } },
  ];
  for (const c of table) await t.test(c.name, () => assert.deepEqual(billableUptime(c.e), c.expected));
});


const inputs = (over: Partial<ReceiptInputs>): ReceiptInputs => ({ upSeconds: () => 3600, prev: null, agentHead: null, gateway: 'uhCAkgw', issuedAt: new Date(T0 + HOUR).toISOString(), farmerShareBps: 9000, ...over });

test('receiptBodyFor: a disputed period is billed the smaller up-time and carries both figures; an undisputed one has no dispute field', () => {
  const d = deployment();
  const disputed = receiptBodyFor(d, T0, T0 + HOUR, inputs({ gatewayUpSeconds: () => 1800, disputed: () => true }));
  assert.equal(disputed?.upSeconds, 1800);
  assert.equal(disputed?.amount, '0.025000', 'half an hour at 0.05/h');
  assert.deepEqual(disputed?.dispute, { agentUpSeconds: 3600, gatewayUpSeconds: 1800 });
  const calm = receiptBodyFor(d, T0, T0 + HOUR, inputs({ gatewayUpSeconds: () => 1800, disputed: () => false }));
  assert.equal(calm?.upSeconds, 3600);
  assert.equal(calm !== null && 'dispute' in calm, false);
  const partial = receiptBodyFor(deployment({ activatedAtMs: T0 + HOUR / 2 }), T0, T0 + HOUR, inputs({ upSeconds: () => 9999, gatewayUpSeconds: () => 9999, disputed: () => true }));
  assert.deepEqual(partial?.dispute, { agentUpSeconds: 1800, gatewayUpSeconds: 1800 }, 'both sides are capped at the part of the period the VM existed');
});

/** A fake of the deployment lifecycle port of BillingService, named as one: nothing enters grace in this test. */
const fakeLifecycle = {
  setPaused: (): Promise<boolean> => Promise.resolve(true),
  end: (d: DeploymentRecord): Promise<DeploymentRecord> => Promise.resolve(d),
};

test('BillingService with the real ProbeService: an agent reporting a dead VM up is billed what the gateway saw, and the dispute is on the receipt and the timeline', async (t) => {
  const scratch = scratchDir();
  t.after(scratch.remove);
  const clock = new FakeClock(T0);
  const uptime = new UptimeBook(INTERVAL, HOUR);
  const events = new FakeEventSink();
  const gateway = newIdentity();
  const d = deployment();
  const other = deployment({ id: 'dep_2', myceliumIp: '4a1::ff0f:2' });
  const deployments = new FakeTable<DeploymentRecord>();
  await deployments.put(d.id, d);
  await deployments.put(other.id, other);
  const reachable = new Map([[d.myceliumIp, true], [other.myceliumIp, true]]);
  const prober = new ProbeService({
    clock,
    uptime,
    events,
    log: pino({ enabled: false }),
    intervalMs: INTERVAL,
    port: 22,
    // A fake of the TCP probe, named as one (probe.ts's shape): answers from the map.
    probe: (address) => Promise.resolve({ reachable: reachable.get(address) ?? false }),
    deployments: () => deployments.values(),
    hasAgent: () => true,
  });
  const { receipts } = ReceiptLog.open(join(scratch.dir, 'receipts.log'));
  t.after(() => receipts.close());
  const ledger = EmbeddedLedger.open(join(scratch.dir, 'ledger'), () => clock.nowMs());
  t.after(() => ledger.close());
  await ledger.fund?.(d.customer, 10_000_000n, 'f1');
  await ledger.fund?.(other.customer, 10_000_000n, 'f2');
  const billing = new BillingService({
    clock,
    gateway: { agent: gateway.agent, sign: createSigner(gateway.secretKey) },
    receipts,
    deployments,
    uptime,
    disputes: prober,
    ledger,
    lifecycle: fakeLifecycle,
    agents: { agentHead: () => null, requestCountersign: () => undefined, verifyCountersignature: () => false, requestBatchCountersign: () => undefined },
    events,
    log: pino({ enabled: false }),
    policy: { farmerShareBps: 9000, graceMs: 72 * HOUR, pauseInGrace: true, periodMs: HOUR },
  });
  // An hour of heartbeats, one per interval, each saying both VMs are up; the gateway probes a second after each.
  // dep_1 dies 45 minutes in, but its agent keeps reporting it up.
  for (let at = T0; at <= T0 + HOUR; at += INTERVAL) {
    clock.set(at);
    uptime.record(`vm:${d.id}`, { atMs: at, up: true });
    uptime.record(`vm:${other.id}`, { atMs: at, up: true });
    if (at >= T0 + 45 * 60_000) reachable.set(d.myceliumIp, false);
    clock.set(at + 1_000);
    await prober.round();
  }
  assert.equal(prober.disputed(d.id, T0, T0 + HOUR), true);
  assert.equal(prober.disputed(other.id, T0, T0 + HOUR), false);
  clock.set(T0 + HOUR + 60_000);
  await billing.closePeriod(T0, T0 + HOUR);
  const [r1] = await billing.receiptsOf(d.id);
  const [r2] = await billing.receiptsOf(other.id);
  assert.ok(r1 && r2);
  assert.equal(r2.upSeconds, 3600, 'an undisputed VM is billed its agent\'s evidence');
  assert.equal(r2.dispute, undefined);
  assert.equal(r1.dispute?.agentUpSeconds, 3600, 'the agent claimed the whole hour');
  assert.ok(r1.dispute.gatewayUpSeconds >= 44 * 60 && r1.dispute.gatewayUpSeconds <= 45 * 60, `the gateway saw about 45 minutes, got ${r1.dispute.gatewayUpSeconds}`);
  assert.equal(r1.upSeconds, r1.dispute.gatewayUpSeconds, 'billed the smaller');
  assert.deepEqual(verifyReceipt(r1, gateway.agent), { ok: true }, 'a receipt with a dispute verifies (its amount matches its up-seconds)');
  const e = events.events.find((x) => x.event === 'billing.uptime_disputed');
  assert.ok(e, 'the dispute is on the timeline');
  assert.equal(e.deployment, d.id);
  assert.equal(e.agent, d.farmer, 'tagged with the farmer, so it shows in the farmer\'s (agent) timeline');
  assert.equal(e.node, d.node);
  assert.match(e.detail, /agent reported 3600 s up, the gateway's probes found \d+ s; billed \d+ s/);
  assert.equal(events.events.filter((x) => x.event === 'billing.uptime_disputed').length, 1, 'one dispute event, for the disputed VM only');
});
