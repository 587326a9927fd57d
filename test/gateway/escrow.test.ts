// Access escrow: the pure access rule on a fake clock, and (property) the real billing, money log, ledger and escrow service keeping charges = shares + fees + returns exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { BillingService } from '../../src/gateway/billing/billing-service.js';
import { ReceiptLog } from '../../src/gateway/billing/receipt-log.js';
import { decideAccess, newAccessRecord } from '../../src/gateway/escrow/access-decision.js';
import { EscrowService } from '../../src/gateway/escrow/escrow-service.js';
import { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import type { AccessRecord, DeploymentRecord, EndReason } from '../../src/gateway/store/records.js';
import { UptimeBook } from '../../src/gateway/uptime/uptime-book.js';
import { createSigner, newIdentity, toBase64 } from '../../src/identity/index.js';
import { formatAmount } from '../../src/protocol/money.js';
import { receiptBody, verifyReceipt, type ReceiptV2 } from '../../src/protocol/receipt.js';
import { sshKeyFingerprint } from '../../src/protocol/ssh-key.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { FakeTable } from '../helpers/fake-table.js';
import { scratchDir } from '../helpers/paths.js';
import { testSeed } from '../helpers/seeded-random.js';

const HOUR = 3_600_000;
const INTERVAL = 15_000;
const T0 = Date.UTC(2026, 0, 1);
const WINDOW = HOUR + HOUR / 2;

test('newAccessRecord: pending until the window after handover; no escrow with a window of 0', () => {
  assert.deepEqual(newAccessRecord(T0, HOUR), { state: 'pending', windowEndsAtMs: T0 + HOUR });
  assert.equal(newAccessRecord(T0, 0), undefined);
});

test('decideAccess: what each event does to pending and settled access', async (t) => {
  const pending: AccessRecord = { state: 'pending', windowEndsAtMs: T0 + HOUR };
  const verified: AccessRecord = { ...pending, state: 'verified', how: 'login', settledAtMs: T0 };
  const failed: AccessRecord = { ...pending, state: 'failed', how: 'complaint', settledAtMs: T0 };
  const inWindow = T0 + HOUR / 2;
  const after = T0 + HOUR;
  const table: Array<{ name: string; access: AccessRecord; event: Parameters<typeof decideAccess>[1]; nowMs: number; kind: string; state?: string; how?: string }> = [
    { name: 'a login verifies at once', access: pending, event: { kind: 'login', keyFingerprint: 'SHA256:x' }, nowMs: inWindow, kind: 'settle', state: 'verified', how: 'login' },
    { name: 'a login after the window still verifies', access: pending, event: { kind: 'login', keyFingerprint: 'SHA256:x' }, nowMs: after + HOUR, kind: 'settle', state: 'verified', how: 'login' },
    { name: 'the customer confirming verifies', access: pending, event: { kind: 'confirm' }, nowMs: inWindow, kind: 'settle', state: 'verified', how: 'customer' },
    { name: 'a complaint inside the window fails access', access: pending, event: { kind: 'complain', reason: 'ssh times out', probeReachable: false }, nowMs: inWindow, kind: 'settle', state: 'failed', how: 'complaint' },
    { name: 'a complaint at the window end is refused', access: pending, event: { kind: 'complain', reason: 'late', probeReachable: false }, nowMs: after, kind: 'refuse' },
    { name: 'the window passing with the VM up verifies', access: pending, event: { kind: 'tick', vmWasUp: true }, nowMs: after, kind: 'settle', state: 'verified', how: 'window' },
    { name: 'the window passing with the VM never up waits', access: pending, event: { kind: 'tick', vmWasUp: false }, nowMs: after, kind: 'none' },
    { name: 'a tick inside the window waits', access: pending, event: { kind: 'tick', vmWasUp: true }, nowMs: inWindow, kind: 'none' },
    { name: 'a complaint after verification is refused', access: verified, event: { kind: 'complain', reason: 'x', probeReachable: true }, nowMs: inWindow, kind: 'refuse' },
    { name: 'a login after failure changes nothing', access: failed, event: { kind: 'login', keyFingerprint: 'SHA256:x' }, nowMs: inWindow, kind: 'none' },
    { name: 'confirming after failure is refused', access: failed, event: { kind: 'confirm' }, nowMs: inWindow, kind: 'refuse' },
  ];
  for (const c of table) {
    await t.test(c.name, () => {
      const d = decideAccess(c.access, c.event, c.nowMs);
      assert.equal(d.kind, c.kind);
      if (d.kind === 'settle') {
        assert.equal(d.access.state, c.state);
        assert.equal(d.access.how, c.how);
        assert.equal(d.access.settledAtMs, c.nowMs);
      }
    });
  }
});

/** An OpenSSH ed25519 key line for a public key (RFC 8709: string "ssh-ed25519", string key). */
function sshLine(publicKey: Uint8Array): { line: string; fingerprint: string } {
  const part = (b: Uint8Array): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), Buffer.from(b)]);
  const blob = Buffer.concat([part(Buffer.from('ssh-ed25519')), part(publicKey)]);
  return { line: `ssh-ed25519 ${toBase64(blob)} test`, fingerprint: sshKeyFingerprint(blob) };
}

/** What the customer of one deployment does in a run. */
type Outcome = { kind: 'login'; period: number } | { kind: 'complain' } | { kind: 'silent' };

interface Plan {
  readonly pricePerHourMicros: number;
  /** Whether the VM is up in each period. */
  readonly up: boolean[];
  readonly outcome: Outcome;
}

const planArb = (periods: number): fc.Arbitrary<Plan> =>
  fc.record({
    pricePerHourMicros: fc.integer({ min: 0, max: 50_000_000 }),
    up: fc.array(fc.boolean(), { minLength: periods, maxLength: periods }),
    outcome: fc.oneof(fc.record({ kind: fc.constant('login' as const), period: fc.integer({ min: 0, max: periods - 1 }) }), fc.constant({ kind: 'complain' as const }), fc.constant({ kind: 'silent' as const })),
  });

/** One run: deployments handed over at T0 with escrow, billed over `periods` periods, each customer acting by its plan. */
async function run(plans: readonly Plan[], periods: number, shareBps: number): Promise<void> {
  const scratch = scratchDir();
  const clock = new FakeClock(T0);
  const uptime = new UptimeBook(INTERVAL, HOUR);
  const events = new FakeEventSink();
  const deployments = new FakeTable<DeploymentRecord>();
  const { receipts } = ReceiptLog.open(join(scratch.dir, 'receipts.log'));
  const ledger = EmbeddedLedger.open(join(scratch.dir, 'ledger'), () => clock.nowMs());
  try {
    const gateway = newIdentity();
    const funded = 1_000_000_000_000n;
    const keys = plans.map(() => sshLine(newIdentity().publicKey));
    const ds: DeploymentRecord[] = plans.map((p, i) => ({
      id: `dep_${i}`,
      order: `ord_${i}`,
      customer: newIdentity().agent,
      offer: 'small',
      name: 'vm',
      pricePerHour: formatAmount(BigInt(p.pricePerHourMicros)),
      unit: 'SPORE',
      sshKeys: [(keys[i] as { line: string }).line],
      provisioner: 'agent',
      node: `node-${i}`,
      farmer: newIdentity().agent,
      myceliumIp: `4a1::ff0f:${i + 1}`,
      vmRef: {},
      state: 'active',
      createdAtMs: T0,
      activatedAtMs: T0,
      access: newAccessRecord(T0, WINDOW) as AccessRecord,
    }));
    for (const d of ds) {
      await deployments.put(d.id, d);
      await ledger.fund?.(d.customer, funded, `fund:${d.id}`);
    }
    // A fake of the deployment lifecycle port (deployment-service.ts end: deprovisioned, endedAtMs now), named as one.
    const fakeLifecycle = {
      setPaused: (): Promise<boolean> => Promise.resolve(true),
      end: async (d: DeploymentRecord, reason: EndReason): Promise<DeploymentRecord> => {
        const next: DeploymentRecord = { ...d, state: 'deprovisioned', endedAtMs: clock.nowMs(), endReason: reason };
        await deployments.put(d.id, next);
        return next;
      },
    };
    const escrow = new EscrowService({ clock, deployments, receipts, uptime, probe: () => Promise.resolve(false), lifecycle: fakeLifecycle, events, log: pino({ enabled: false }) });
    const billing = new BillingService({
      clock,
      gateway: { agent: gateway.agent, sign: createSigner(gateway.secretKey) },
      receipts,
      deployments,
      uptime,
      ledger,
      lifecycle: fakeLifecycle,
      escrow,
      agents: { agentHead: () => null, requestCountersign: () => undefined, verifyCountersignature: () => false, requestBatchCountersign: () => undefined },
      events,
      log: pino({ enabled: false }),
      policy: { farmerShareBps: shareBps, graceMs: 72 * HOUR, pauseInGrace: true, periodMs: HOUR },
    });
    for (let p = 0; p < periods; p++) {
      for (let at = T0 + p * HOUR; at <= T0 + (p + 1) * HOUR; at += INTERVAL) {
        ds.forEach((d, i) => uptime.record(`vm:${d.id}`, { atMs: at, up: (plans[i] as Plan).up[p] as boolean }));
        clock.set(at);
        if (at === T0 + p * HOUR + HOUR / 4) {
          for (const [i, d] of ds.entries()) {
            const o = (plans[i] as Plan).outcome;
            if (o.kind === 'login' && o.period === p) await escrow.onLogin(d.farmer, d.id, (keys[i] as { fingerprint: string }).fingerprint);
            if (o.kind === 'complain' && p === 0) await escrow.report(d.customer, d.id, { ok: false, reason: 'ssh times out' });
          }
        }
      }
      clock.set(T0 + (p + 1) * HOUR + 60_000);
      await billing.closePeriod(T0 + p * HOUR, T0 + (p + 1) * HOUR);
    }
    await billing.settle();

    let issued = 0n;
    let paid = 0n;
    let shares = 0n;
    let returned = 0n;
    let held = 0n;
    for (const [i, d] of ds.entries()) {
      const plan = plans[i] as Plan;
      let mineShares = 0n;
      let minePaid = 0n;
      for (const e of await receipts.of(d.id)) {
        issued += e.amountMicros;
        if (e.state === 'paid') {
          paid += e.amountMicros;
          shares += e.farmerShareMicros;
          mineShares += e.farmerShareMicros;
          minePaid += e.amountMicros;
        } else if (e.state === 'returned') returned += e.amountMicros;
        else {
          assert.equal(e.escrow?.state, 'held', `${e.receipt.id} is neither paid nor returned, so it must still be held`);
          held += e.amountMicros;
        }
        const served = (await receipts.present(e)) as ReceiptV2;
        assert.deepEqual(verifyReceipt(served, gateway.agent), { ok: true }, 'a receipt with its escrow state verifies (escrow is outside the hashed body)');
        assert.equal(receiptBody(served).held === true, served.escrow !== undefined);
      }
      const farmerGot = ledger.summary().farmers.get(d.farmer) ?? 0n;
      const balance = ledger.summary().balances.get(d.customer) ?? 0n;
      assert.equal(farmerGot, mineShares, `${d.id}: the farmer is paid exactly the shares of its billed charges`);
      assert.equal(funded - balance, minePaid, `${d.id}: the customer is debited exactly its billed charges`);
      if (plan.outcome.kind === 'complain') {
        assert.equal(deployments.get(d.id)?.endReason, 'no_access');
        assert.equal(farmerGot, 0n, 'no access: the farmer gets nothing');
        assert.equal(balance, funded, 'no access: every held charge went back to the customer');
      }
      if (plan.outcome.kind === 'login') {
        assert.equal(deployments.get(d.id)?.access?.state, 'verified');
        assert.ok((await receipts.of(d.id)).every((e) => e.state === 'paid'), `${d.id}: after the login every held charge was released and billed`);
        assert.ok((await receipts.of(d.id)).some((e) => e.escrow?.state === 'released') || plan.outcome.period === 0, 'charges issued before the login were held, then released');
      }
    }
    const summary = ledger.summary();
    assert.equal(summary.collectedMicros, paid, 'debits are the billed charges');
    assert.equal(summary.paidOutMicros, shares, 'payouts are the farmer shares of billed charges');
    assert.equal(issued, shares + (paid - shares) + returned + held, 'every charge is a share, a fee, a return, or still held');
    let periodReturned = 0n;
    for (const [, p] of receipts.periodTotals()) periodReturned += p.returnedMicros ?? 0n;
    assert.equal(periodReturned, returned, 'the period totals count the returns');
  } finally {
    receipts.close();
    await ledger.close();
    scratch.remove();
  }
}

test('property: held charges are billed once released or never once returned; debits = shares + fees, charges = debits + returns + held', async (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (HYPHA_TEST_SEED=${seed} repeats it)`);
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }).chain((periods) => fc.tuple(fc.constant(periods), fc.array(planArb(periods), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 10_000 }))),
      async ([periods, plans, shareBps]) => run(plans, periods, shareBps),
    ),
    { numRuns: 40, seed },
  );
});
