// Farmer payouts batched per farmer with write-ahead records: a crash (a throw) between any two steps, then a restart from receipts.log and the ledger's journal, never pays a receipt twice or under two keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newIdentity } from '../../src/identity/index.js';
import { BillingService } from '../../src/gateway/billing/billing-service.js';
import { PAYOUT_BATCH } from '../../src/gateway/billing/farmer-payouts.js';
import { ReceiptLog, type MoneyRecord } from '../../src/gateway/billing/receipt-log.js';
import { AppendLog } from '../../src/gateway/store/append-log.js';
import { EmbeddedLedger, type LedgerEntry } from '../../src/gateway/ledger/embedded-ledger.js';
import { LedgerRejectedError, type Ledger } from '../../src/gateway/ledger/ledger.js';
import { parseAmount } from '../../src/protocol/money.js';
import { receiptHash, type ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { testBilling } from '../helpers/billing-service.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { scratchDir } from '../helpers/paths.js';
import { actors, headOver, HOUR, T0, v2Body } from '../helpers/receipts.js';
import { tappedLedger, type TappedCall } from '../helpers/tapped-ledger.js';

const CUSTOMER = 'uhCAkcustomer';
const farmers = [actors.farmer, actors.stranger, newIdentity()];
/** Seven receipts over three farmers: three payout batches. */
const bodies: ReceiptBodyV2[] = Array.from({ length: 7 }, (_, i) => v2Body({ deployment: `dep_${i}`, farmer: farmers[i % 3], upSeconds: 3000 + i }));
/** dep_0's next period (farmer 0 again): closed between a crash and the restart, so a batch formed again would differ from the one begun. */
const later = v2Body({ deployment: 'dep_0', farmer: farmers[0], startMs: T0 + HOUR, prev: receiptHash(bodies[0] as ReceiptBodyV2), upSeconds: 3333 });
const shareOf = new Map([...bodies, later].map((b) => [b.id, parseAmount('farmerShare', b.farmerShare)]));

/** Where a crash strikes: before or after the n-th call (1-based) of a ledger operation. */
interface CrashAt {
  readonly op: 'postBillingEvent' | 'payFarmer';
  readonly call: number;
  readonly when: 'before' | 'after';
}

/** The gateway process dying at one point: every later step of the run is lost (the throw ends the settle). */
class Crash extends Error {}

/** A real EmbeddedLedger whose caller "dies" at one call; `reject` makes it refuse batched payouts as invalid. */
function ledgerOf(inner: EmbeddedLedger, crash: CrashAt | null, reject = false): Ledger {
  const at = (call: TappedCall, when: CrashAt['when']): void => {
    if (crash?.op === call.op && crash.call === call.n && crash.when === when) throw new Crash(`crash ${when} ${call.op} #${call.n}`);
  };
  return tappedLedger(inner, {
    before: (call) => {
      at(call, 'before');
      if (reject && call.op === 'payFarmer' && call.receiptIds.length > 1) throw new LedgerRejectedError('payFarmer', 'no batches here');
    },
    after: (call) => at(call, 'after'),
  });
}

function billingOver(receipts: ReceiptLog, ledger: Ledger, events = new FakeEventSink()): BillingService {
  return testBilling({ receipts, ledger, events });
}

/** A scratch gateway: receipts.log with one closed period, and a funded embedded ledger. */
async function world(t: { after(fn: () => void): void }, extra: MoneyRecord[] = []): Promise<{ logPath: string; ledgerDir: string }> {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const logPath = join(dir, 'receipts.log');
  const ledgerDir = join(dir, 'ledger');
  const log = ReceiptLog.open(logPath).receipts;
  await log.append([
    { t: 'close_begin', periodStartMs: T0 },
    ...bodies.map((b, index): MoneyRecord => ({ t: 'receipt', receipt: b, periodStartMs: T0, key: `hypha:${b.deployment}:${new Date(T0).toISOString()}`, hash: receiptHash(b), index })),
    { t: 'tree_head', periodStartMs: T0, head: headOver(bodies, T0, null) },
    ...extra,
  ]);
  log.close();
  const ledger = EmbeddedLedger.open(ledgerDir);
  await ledger.fund(CUSTOMER, 100_000_000n, 'fund-1');
  await ledger.close();
  return { logPath, ledgerDir };
}

/** One gateway run: open the log and the ledger, settle (maybe dying), close both. */
async function run(paths: { logPath: string; ledgerDir: string }, crash: CrashAt | null, reject = false): Promise<'crashed' | 'settled'> {
  const receipts = ReceiptLog.open(paths.logPath).receipts;
  const inner = EmbeddedLedger.open(paths.ledgerDir);
  try {
    await billingOver(receipts, ledgerOf(inner, crash, reject)).settle();
    return 'settled';
  } catch (err) {
    if (err instanceof Crash) return 'crashed';
    throw err;
  } finally {
    receipts.close();
    await inner.close();
  }
}

/** Every payout the ledger journaled. */
function payouts(ledgerDir: string): Array<LedgerEntry & { type: 'payout' }> {
  return EmbeddedLedger.readEntries(ledgerDir).filter((e): e is LedgerEntry & { type: 'payout' } => e.type === 'payout');
}

/** Each receipt's share paid exactly once, in a payout whose amount is the sum of its receipts' shares; nothing left owed or open. */
function assertPaidOutOnce(paths: { logPath: string; ledgerDir: string }, all: readonly ReceiptBodyV2[] = bodies): void {
  const seen = new Map<string, string>();
  for (const p of payouts(paths.ledgerDir)) {
    for (const id of p.receiptIds) {
      assert.equal(seen.has(id), false, `${id} is paid out under ${p.key} and again under ${String(seen.get(id))}`);
      seen.set(id, p.key);
    }
    assert.equal(BigInt(p.amountMicros), p.receiptIds.reduce((s, id) => s + (shareOf.get(id) as bigint), 0n), `${p.key} pays exactly its receipts' shares`);
  }
  assert.deepEqual([...seen.keys()].sort(), all.map((b) => b.id).sort(), 'every receipt is paid out');
  const charges = EmbeddedLedger.readEntries(paths.ledgerDir).filter((e) => e.type === 'charge');
  assert.equal(charges.length, all.length, 'each receipt charged once');
  const log = ReceiptLog.open(paths.logPath).receipts;
  try {
    assert.deepEqual(log.unpaidOut(), []);
    assert.deepEqual(log.openPayoutBatches(), []);
    assert.equal(log.footprint().receipts, 0, 'every receipt is settled');
  } finally {
    log.close();
  }
}

test('farmers are paid once per farmer per settle: one ledger call and one key for all their receipts', async (t) => {
  const paths = await world(t);
  assert.equal(await run(paths, null), 'settled');
  const list = payouts(paths.ledgerDir);
  assert.equal(list.length, farmers.length, 'one payout per farmer, not one per receipt');
  assert.ok(list.every((p) => p.key.startsWith('payout:b:')));
  assertPaidOutOnce(paths);
  assert.ok(PAYOUT_BATCH >= bodies.length);
});

test('the batches a settle pays are recorded together: their payout_done records are one batch of the log (one fsync), after every payout', async (t) => {
  const paths = await world(t);
  assert.equal(await run(paths, null), 'settled');
  const lines = readFileSync(paths.logPath, 'utf8').split('\n').slice(0, -1);
  const done = lines.flatMap((l, i) => (l.includes('"t":"payout_done"') ? [i] : []));
  assert.equal(done.length, farmers.length);
  assert.deepEqual(
    done,
    done.map((_, k) => (done[0] as number) + k),
    'the payout_done lines stand together',
  );
  assert.ok(lines[(done[done.length - 1] as number) + 1]?.startsWith(`{"b":${farmers.length},`), 'and are sealed as one batch');
  assertPaidOutOnce(paths);
});

const crashes: CrashAt[] = [
  { op: 'postBillingEvent', call: 3, when: 'before' },
  { op: 'postBillingEvent', call: 3, when: 'after' },
  // payout_begin records are on disk, nothing posted yet.
  { op: 'payFarmer', call: 1, when: 'before' },
  // The ledger paid the first batch; its payout_done never reached the log.
  { op: 'payFarmer', call: 1, when: 'after' },
  { op: 'payFarmer', call: 2, when: 'after' },
  { op: 'payFarmer', call: 3, when: 'after' },
];

for (const crash of crashes) {
  test(`a crash ${crash.when} ${crash.op} #${crash.call}, then a restart, pays every receipt once under one key`, async (t) => {
    const paths = await world(t);
    assert.equal(await run(paths, crash), 'crashed');
    // The next period closes before the restart: farmer 0 is owed one more receipt.
    const log = ReceiptLog.open(paths.logPath).receipts;
    await log.append([
      { t: 'close_begin', periodStartMs: T0 + HOUR },
      { t: 'receipt', receipt: later, periodStartMs: T0 + HOUR, key: `hypha:dep_0:${new Date(T0 + HOUR).toISOString()}`, hash: receiptHash(later), index: 0 },
      { t: 'tree_head', periodStartMs: T0 + HOUR, head: headOver([later], T0 + HOUR, log.lastTreeHeadHash()) },
    ]);
    log.close();
    // After the restart the begun batches are posted again as they were; a second crash at the first re-post is survived too.
    if (crash.op === 'payFarmer') assert.equal(await run(paths, { op: 'payFarmer', call: 1, when: 'after' }), 'crashed');
    assert.equal(await run(paths, null), 'settled');
    assertPaidOutOnce(paths, [...bodies, later]);
    const keys = new Set(payouts(paths.ledgerDir).map((p) => p.key));
    assert.ok(keys.size <= farmers.length + 1, 'a begun batch was posted again under its key, not formed anew');
  });
}

test('a batch the ledger refuses as invalid is paid one receipt at a time under the receipts\' own keys, and never batched again', async (t) => {
  const paths = await world(t);
  const events = new FakeEventSink();
  const receipts = ReceiptLog.open(paths.logPath).receipts;
  const inner = EmbeddedLedger.open(paths.ledgerDir);
  await billingOver(receipts, ledgerOf(inner, null, true), events).settle();
  assert.equal(events.events.filter((e) => e.event === 'billing.payout_batch_refused').length, farmers.length);
  // The refused receipts are paid on the next settle, one by one.
  await billingOver(receipts, ledgerOf(inner, null, true), events).settle();
  receipts.close();
  await inner.close();
  const list = payouts(paths.ledgerDir);
  assert.deepEqual(list.map((p) => p.key).sort(), bodies.map((b) => `payout:${b.id}`).sort());
  assertPaidOutOnce(paths);
});

test('receipts paid before batching began are paid out one by one (an older gateway may have posted them under their own key)', async (t) => {
  const paid = bodies.slice(0, 2).map((b): MoneyRecord => ({ t: 'paid', id: b.id, entryId: `old:${b.id}`, atMs: T0 + HOUR }));
  const paths = await world(t, paid);
  // An older gateway paid these two and posted the first one's payout, then died before recording it.
  const inner = EmbeddedLedger.open(paths.ledgerDir);
  for (const b of bodies.slice(0, 2)) await inner.postBillingEvent({ key: `hypha:${b.deployment}:${new Date(T0).toISOString()}`, customer: CUSTOMER, farmer: b.farmer, amountMicros: parseAmount('amount', b.amount), unit: b.unit, receiptIds: [b.id], invoice: {} });
  const first = bodies[0] as ReceiptBodyV2;
  await inner.payFarmer({ key: `payout:${first.id}`, farmer: first.farmer, amountMicros: shareOf.get(first.id) as bigint, unit: first.unit, receiptIds: [first.id] });
  await inner.close();
  assert.equal(await run(paths, null), 'settled');
  const keys = payouts(paths.ledgerDir).map((p) => p.key);
  assert.equal(keys.filter((k) => k === `payout:${first.id}`).length, 1, 'the old key is reused, not paid again');
  assert.ok(keys.includes(`payout:${(bodies[1] as ReceiptBodyV2).id}`));
  assertPaidOutOnce(paths);
});

test('a settle records the receipts it paid as one paid_batch record (not a paid line each), and a restart finds them paid', async (t) => {
  const paths = await world(t);
  assert.equal(await run(paths, null), 'settled');
  const records = AppendLog.read<MoneyRecord>(paths.logPath);
  const batches = records.filter((r): r is MoneyRecord & { t: 'paid_batch' } => r.t === 'paid_batch');
  assert.equal(batches.length, 1);
  assert.deepEqual([...(batches[0] as { ids: readonly string[] }).ids].sort(), bodies.map((b) => b.id).sort());
  assert.equal(records.filter((r) => r.t === 'paid').length, 0);
  assert.equal(await run(paths, null), 'settled');
  assert.equal(EmbeddedLedger.readEntries(paths.ledgerDir).filter((e) => e.type === 'charge').length, bodies.length, 'nothing billed twice');
  assertPaidOutOnce(paths);
});

test('a paid_batch record replays to the state a paid record for each of its receipts gives, arrears included; a malformed one stops the open', async (t) => {
  const ids = bodies.slice(0, 5).map((b) => b.id);
  const at = T0 + HOUR;
  const arrears: MoneyRecord = { t: 'arrears', id: ids[0] as string, availableMicros: '0', atMs: at };
  const one = await world(t, [arrears, ...ids.map((id): MoneyRecord => ({ t: 'paid', id, entryId: `e:${id}`, atMs: at }))]);
  const batched = await world(t, [arrears, { t: 'paid_batch', ids, entryIds: ids.map((id) => `e:${id}`), atMs: at }]);
  const [a, b] = [ReceiptLog.open(one.logPath).receipts, ReceiptLog.open(batched.logPath).receipts];
  const state = (r: ReceiptLog): unknown => ({
    paid: r.inState('paid').map((e) => e.receipt.id),
    issued: r.inState('issued').map((e) => e.receipt.id),
    owed: r.unpaidOut().map((e) => e.receipt.id),
    totals: bodies.map((x) => r.totalsOf(x.deployment)),
    history: r.paidHistoryOf(CUSTOMER),
    arrears: r.arrearsOf(CUSTOMER),
    periods: r.periodTotals(),
  });
  assert.deepEqual(state(b), state(a));
  assert.equal(b.inState('paid').length, 5);
  assert.equal(b.arrearsOf(CUSTOMER), 0n);
  a.close();
  b.close();
  const bad = await world(t);
  const raw = AppendLog.open<MoneyRecord>(bad.logPath).log;
  await raw.append({ t: 'paid_batch', ids, entryIds: ['e'], atMs: at });
  raw.close();
  assert.throws(() => ReceiptLog.open(bad.logPath), /paid_batch record names 5 receipt\(s\) but 1/);
});
