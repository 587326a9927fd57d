// Settling in batches per customer through BillingService and a real EmbeddedLedger: one ledger call per customer's batch, the oldest paid first when the funds cover only part, a crash around the batch charging nothing twice.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { BillingService } from '../../src/gateway/billing/billing-service.js';
import { ReceiptLog, type MoneyRecord } from '../../src/gateway/billing/receipt-log.js';
import { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import type { Ledger } from '../../src/gateway/ledger/ledger.js';
import { parseAmount } from '../../src/protocol/money.js';
import { receiptHash, type ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { testBilling } from '../helpers/billing-service.js';
import { scratchDir } from '../helpers/paths.js';
import { headOver, HOUR, T0, v2Body } from '../helpers/receipts.js';
import { keysOf, tappedLedger } from '../helpers/tapped-ledger.js';

const ALICE = 'uhCAkalice';
const BOB = 'uhCAkbob';
const amountOf = (b: ReceiptBodyV2): bigint => parseAmount('amount', b.amount);
const keyOf = (b: ReceiptBodyV2): string => `hypha:${b.deployment}:${b.periodStart}`;

/** Closes each period's bodies (in order, chained) into a fresh log at `path`. */
async function closed(path: string, periods: ReadonlyArray<readonly ReceiptBodyV2[]>): Promise<void> {
  const receipts = ReceiptLog.open(path).receipts;
  for (const [i, bodies] of periods.entries()) {
    const at = T0 + i * HOUR;
    await receipts.append([
      { t: 'close_begin', periodStartMs: at },
      ...bodies.map((b, index): MoneyRecord => ({ t: 'receipt', receipt: b, periodStartMs: at, key: keyOf(b), hash: receiptHash(b), index })),
      { t: 'tree_head', periodStartMs: at, head: headOver(bodies, at, receipts.lastTreeHeadHash()) },
    ]);
  }
  receipts.close();
}

/** A gateway's billing over the log at `path`, opened afresh (as a restarted gateway opens it). */
function gatewayOver(t: TestContext, path: string, ledger: Ledger): { billing: BillingService; receipts: ReceiptLog } {
  const receipts = ReceiptLog.open(path).receipts;
  t.after(() => receipts.close());
  const billing = testBilling({ receipts, ledger, nowMs: T0 + 4 * HOUR });
  return { billing, receipts };
}

function ledgerIn(t: TestContext, dir: string): EmbeddedLedger {
  const ledger = EmbeddedLedger.open(join(dir, 'ledger'));
  t.after(() => ledger.close());
  return ledger;
}

const charges = (dir: string): string[] => EmbeddedLedger.readEntries(join(dir, 'ledger')).flatMap((e) => (e.type === 'charge' ? [e.key] : []));

test('a settle posts each customer\'s receipts as one ledger call, charging an entry per receipt', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  const bodies = [...['a1', 'a2', 'a3', 'a4', 'a5'].map((d) => v2Body({ deployment: `dep_${d}`, customer: ALICE })), ...['b1', 'b2'].map((d) => v2Body({ deployment: `dep_${d}`, customer: BOB }))];
  await closed(path, [bodies]);
  const inner = ledgerIn(t, dir);
  for (const c of [ALICE, BOB]) await inner.fund(c, 1_000_000n, `fund:${c}`);
  const ledger = tappedLedger(inner, { batches: true });
  const { billing, receipts } = gatewayOver(t, path, ledger);
  await billing.settle();
  assert.deepEqual(keysOf(ledger, 'postBillingEvents').map((b) => b.length).sort(), [2, 5], 'one call per customer');
  assert.deepEqual(keysOf(ledger, 'postBillingEvent'), [], 'nothing posted one by one');
  assert.deepEqual(charges(dir).sort(), bodies.map(keyOf).sort(), 'a charge entry per receipt');
  assert.equal(receipts.inState('issued').length, 0);
  assert.equal(receipts.customersInArrears().length, 0);
  // Each receipt's farmer share is owed once, and paid out as the sum of the receipts' shares.
  const farmerShares = bodies.reduce((s, b) => s + parseAmount('farmerShare', b.farmerShare), 0n);
  assert.equal(inner.summary().paidOutMicros, farmerShares);
});

test('a customer who can pay only part: the batch is refused whole, then posted one by one, and the oldest receipts are paid, the rest go to arrears', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  const p0 = [v2Body({ deployment: 'dep_x', customer: ALICE }), v2Body({ deployment: 'dep_y', customer: ALICE, upSeconds: 1800 })];
  const p1 = [v2Body({ deployment: 'dep_x', customer: ALICE, startMs: T0 + HOUR, prev: receiptHash(p0[0] as ReceiptBodyV2) })];
  await closed(path, [p0, p1]);
  const inner = ledgerIn(t, dir);
  // Exactly the first period's two charges.
  await inner.fund(ALICE, p0.reduce((s, b) => s + amountOf(b), 0n), 'fund');
  const ledger = tappedLedger(inner, { batches: true });
  const { billing, receipts } = gatewayOver(t, path, ledger);
  await billing.settle();
  assert.equal(keysOf(ledger, 'postBillingEvents').length, 1, 'the batch was tried first');
  assert.deepEqual(keysOf(ledger, 'postBillingEvent').flat(), [...p0, ...p1].map(keyOf), 'then one by one, oldest first');
  assert.deepEqual(charges(dir), p0.map(keyOf), 'the first period is paid');
  assert.deepEqual(receipts.inState('arrears').map((e) => e.receipt.id), p1.map((b) => b.id), 'the newest is in arrears');
  assert.equal(receipts.arrearsOf(ALICE), amountOf(p1[0] as ReceiptBodyV2));
});

test('a gateway killed after a batch was charged and before its paid records: a restart re-posts the batch, which answers paid under each key and charges nothing again', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  const bodies = ['a', 'b', 'c', 'd'].map((d) => v2Body({ deployment: `dep_${d}`, customer: ALICE }));
  await closed(path, [bodies]);
  const inner = ledgerIn(t, dir);
  await inner.fund(ALICE, 1_000_000n, 'fund');
  const dying = tappedLedger(inner, {
    batches: true,
    after: (call) => {
      if (call.op === 'postBillingEvents' && call.n === 1) throw new Error('gateway killed before the paid records were written');
    },
  });
  const first = gatewayOver(t, path, dying);
  await assert.rejects(first.billing.settle(), /gateway killed/);
  first.receipts.close();
  assert.equal(charges(dir).length, bodies.length, 'the batch was charged');

  const ledger = tappedLedger(inner, { batches: true });
  const restarted = gatewayOver(t, path, ledger);
  assert.equal(restarted.receipts.inState('issued').length, bodies.length, 'no paid record reached the log');
  await restarted.billing.settle();
  assert.equal(keysOf(ledger, 'postBillingEvents').length, 1);
  assert.equal(restarted.receipts.inState('issued').length, 0);
  assert.deepEqual(charges(dir).sort(), bodies.map(keyOf).sort(), 'each receipt charged once');
  assert.equal((await inner.balance(ALICE)).availableMicros, 1_000_000n - bodies.reduce((s, b) => s + amountOf(b), 0n));
});
