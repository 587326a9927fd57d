// Arrears retried after funds arrive, with the ledger's answer lost mid-way or the gateway killed mid-retry: every charge that ran is recorded paid, none twice.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BillingService } from '../../src/gateway/billing/billing-service.js';
import { ReceiptLog, type MoneyRecord, type ReceiptEntry } from '../../src/gateway/billing/receipt-log.js';
import { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import { LedgerUnavailableError, type Ledger } from '../../src/gateway/ledger/ledger.js';
import { parseAmount } from '../../src/protocol/money.js';
import { receiptHash, type ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { testBilling } from '../helpers/billing-service.js';
import { scratchDir } from '../helpers/paths.js';
import { actors, headOver, HOUR, T0, v2Body } from '../helpers/receipts.js';
import { keysOf, tappedLedger, type TappedCall } from '../helpers/tapped-ledger.js';
import { deploymentRecord } from '../helpers/deployment-record.js';
import { FakeTable } from '../helpers/fake-table.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';

/** Two receipts of one customer (v2Body's customer), both in arrears. */
const bodies: ReceiptBodyV2[] = [v2Body({ deployment: 'dep_a' }), v2Body({ deployment: 'dep_b', upSeconds: 3000 })];
const customer = (bodies[0] as ReceiptBodyV2).customer;
const owed = bodies.reduce((s, b) => s + parseAmount('amount', b.amount), 0n);

test('arrears retried after a top-up: a charge whose answer was lost, and the one before it, are recorded paid; nothing is charged twice', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const receipts = ReceiptLog.open(join(dir, 'receipts.log')).receipts;
  t.after(() => receipts.close());
  await receipts.append([
    { t: 'close_begin', periodStartMs: T0 },
    ...bodies.map((b, index): MoneyRecord => ({ t: 'receipt', receipt: b, periodStartMs: T0, key: `hypha:${b.deployment}:${new Date(T0).toISOString()}`, hash: receiptHash(b), index })),
    { t: 'tree_head', periodStartMs: T0, head: headOver(bodies, T0, null) },
    ...bodies.map((b): MoneyRecord => ({ t: 'arrears', id: b.id, availableMicros: '0', atMs: T0 + HOUR })),
  ]);
  const inner = EmbeddedLedger.open(join(dir, 'ledger'));
  t.after(() => inner.close());
  // The customer parks exactly what is owed: after both charges nothing is left to cover either.
  await inner.fund(customer, owed, 'top-up');
  const billing = testBilling({
    receipts,
    // The answer to the second billing event is lost: the charge runs, then the call fails as an outage would (UnytLedger: an execute_rave that timed out after the conductor ran it).
    ledger: tappedLedger(inner, {
      after: (call) => {
        if (call.op === 'postBillingEvent' && call.n === 2) throw new LedgerUnavailableError('postBillingEvent', new Error('timed out after 10000 ms'));
      },
    }),
  });

  // Read back from the log: a receipt paid and paid out leaves the log's working set.
  const stateOf = async (b: ReceiptBodyV2): Promise<string | undefined> => (await receipts.of(b.deployment)).find((e) => e.receipt.id === b.id)?.state;
  await billing.settle();
  assert.equal(await stateOf(bodies[0] as ReceiptBodyV2), 'paid', 'the first charge is recorded although the second post failed');
  assert.equal((await inner.balance(customer)).availableMicros, 0n, 'both charges ran');
  await billing.settle();
  for (const b of bodies) assert.equal(await stateOf(b), 'paid', `${b.id}: its charge ran, so it is paid, not arrears`);
  assert.equal(receipts.arrearsOf(customer), 0n);
  const charges = EmbeddedLedger.readEntries(join(dir, 'ledger')).filter((e) => e.type === 'charge');
  assert.deepEqual(charges.map((c) => c.key).sort(), bodies.map((b) => `hypha:${b.deployment}:${new Date(T0).toISOString()}`).sort(), 'one charge per receipt');
});

const keyOf = (b: ReceiptBodyV2): string => `hypha:${b.deployment}:${new Date(T0).toISOString()}`;

/** The two receipts closed and put in arrears, in a fresh log at `path`. */
async function inArrears(path: string): Promise<void> {
  const receipts = ReceiptLog.open(path).receipts;
  await receipts.append([
    { t: 'close_begin', periodStartMs: T0 },
    ...bodies.map((b, index): MoneyRecord => ({ t: 'receipt', receipt: b, periodStartMs: T0, key: keyOf(b), hash: receiptHash(b), index })),
    { t: 'tree_head', periodStartMs: T0, head: headOver(bodies, T0, null) },
    ...bodies.map((b): MoneyRecord => ({ t: 'arrears', id: b.id, availableMicros: '0', atMs: T0 + HOUR })),
  ]);
  receipts.close();
}

/** A gateway's billing over the log at `path` (opened afresh, as a restarted gateway opens it). */
function gatewayOver(path: string, ledger: Ledger): { billing: BillingService; receipts: ReceiptLog } {
  const receipts = ReceiptLog.open(path).receipts;
  const billing = testBilling({ receipts, ledger });
  return { billing, receipts };
}

/** A real EmbeddedLedger in front of which the gateway process "dies" at the `at`-th billing event: before it reaches the ledger, or after the charge ran. */
function dyingAt(inner: EmbeddedLedger, at: number, when: 'before' | 'after'): Ledger {
  const dies = (call: TappedCall, whenNow: 'before' | 'after'): void => {
    if (call.op !== 'postBillingEvent' || call.n !== at || when !== whenNow) return;
    throw new Error(when === 'before' ? 'gateway killed before the post left it' : 'gateway killed before the paid record was written');
  };
  return tappedLedger(inner, { before: (call) => dies(call, 'before'), after: (call) => dies(call, 'after') });
}

/** A scratch folder with a money log whose receipts are in arrears and an embedded ledger beside it, both closed after the test. */
async function arrearsOnDisk(t: TestContext): Promise<{ dir: string; path: string; inner: EmbeddedLedger }> {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  await inArrears(path);
  const inner = EmbeddedLedger.open(join(dir, 'ledger'));
  t.after(() => inner.close());
  return { dir, path, inner };
}

const stateIn = async (receipts: ReceiptLog, b: ReceiptBodyV2): Promise<ReceiptEntry['state'] | undefined> => (await receipts.of(b.deployment)).find((e) => e.receipt.id === b.id)?.state;

for (const when of ['after', 'before'] as const) {
  test(`a gateway killed ${when === 'after' ? 'between an arrears charge and its paid record' : 'as an arrears retry was about to reach the ledger'}: after a restart the receipt is paid, charged once`, async (t) => {
    const { dir, path, inner } = await arrearsOnDisk(t);
    // Exactly what is owed: once both charges ran, the balance covers neither.
    await inner.fund(customer, owed, 'top-up');

    const first = gatewayOver(path, dyingAt(inner, 2, when));
    await assert.rejects(first.billing.settle(), /gateway killed/);
    first.receipts.close();
    const written = ReceiptLog.open(path).receipts;
    assert.equal(written.inState('arrears').length, 1, 'the second receipt is still in arrears on disk');
    assert.equal(written.inState('arrears')[0]?.retryBegun, true, 'with its retry begun');
    written.close();

    const restarted = gatewayOver(path, tappedLedger(inner));
    t.after(() => restarted.receipts.close());
    await restarted.billing.settle();
    for (const b of bodies) assert.equal(await stateIn(restarted.receipts, b), 'paid', `${b.id} is paid after the restart`);
    assert.equal(restarted.receipts.arrearsOf(customer), 0n);
    const charges = EmbeddedLedger.readEntries(join(dir, 'ledger')).filter((e) => e.type === 'charge');
    assert.deepEqual(charges.map((c) => c.key).sort(), bodies.map(keyOf).sort(), 'one charge per receipt');
    assert.equal((await inner.balance(customer)).availableMicros, 0n);
  });
}

test('a retry begun before a crash that the ledger then refuses stays in arrears, its retry ended: the next round does not post it again until funds cover it', async (t) => {
  const { dir, path, inner } = await arrearsOnDisk(t);
  const oldest = bodies[0] as ReceiptBodyV2;
  // Enough for the oldest receipt only: the retry begins with it alone.
  await inner.fund(customer, parseAmount('amount', oldest.amount), 'top-up');
  const first = gatewayOver(path, dyingAt(inner, 1, 'before'));
  await assert.rejects(first.billing.settle(), /gateway killed/);
  first.receipts.close();
  // The funds leave before the restart (another charge, say): the begun retry can no longer be paid.
  await inner.postBillingEvent({ key: 'elsewhere', customer, farmer: actors.farmer.agent, amountMicros: parseAmount('amount', oldest.amount), unit: 'SPORE', receiptIds: ['other'], invoice: {} });

  const ledger = tappedLedger(inner);
  const restarted = gatewayOver(path, ledger);
  t.after(() => restarted.receipts.close());
  await restarted.billing.settle();
  assert.deepEqual(keysOf(ledger, 'postBillingEvent').flat(), [keyOf(oldest)], 'the begun retry is asked about although the balance does not cover it');
  assert.equal(await stateIn(restarted.receipts, oldest), 'arrears');
  assert.equal(restarted.receipts.inState('arrears').some((e) => e.retryBegun === true), false, 'its retry is over');
  await restarted.billing.settle();
  assert.deepEqual(keysOf(ledger, 'postBillingEvent').flat(), [keyOf(oldest)], 'nothing is posted while the balance covers nothing');
  assert.equal(EmbeddedLedger.readEntries(join(dir, 'ledger')).filter((e) => e.type === 'charge' && e.key.startsWith('hypha:')).length, 0);
});

test('funding while the settle loop runs: the fund answer counts from before the funds arrived, so VMs the loop resumed with them are named', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  await inArrears(join(dir, 'receipts.log'));
  const receipts = ReceiptLog.open(join(dir, 'receipts.log')).receipts;
  t.after(() => receipts.close());
  const inner = EmbeddedLedger.open(join(dir, 'ledger'));
  t.after(() => inner.close());
  const deployments = new FakeTable<DeploymentRecord>();
  for (const b of bodies) await deployments.put(b.deployment, deploymentRecord(b.deployment, { customer, state: 'grace', graceSinceMs: T0 + HOUR, graceUntilMs: T0 + 73 * HOUR }, T0));
  const billing = testBilling({ receipts, ledger: inner, deployments });

  const before = billing.beforeFunding(customer);
  await inner.fund(customer, owed, 'top-up');
  // The settle loop's tick comes first and spends the new funds: both VMs leave grace before the fund route settles.
  await billing.settle();
  for (const b of bodies) assert.equal(deployments.get(b.deployment)?.state, 'active');
  const outcome = await billing.settleFor(customer, before);
  assert.deepEqual([...outcome.resumed].sort(), bodies.map((b) => b.deployment).sort(), 'the VMs the funds resumed are named');
  assert.deepEqual(outcome.stillInGrace, []);
  assert.equal(outcome.arrearsPaidMicros, owed, 'the arrears the funds paid are counted');
  // Counted from after the loop's round instead, the answer would say the funds did nothing.
  const late = await billing.settleFor(customer, billing.beforeFunding(customer));
  assert.deepEqual(late.resumed, []);
  assert.equal(late.arrearsPaidMicros, 0n);
});
