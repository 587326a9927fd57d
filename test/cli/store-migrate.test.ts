// `hypha store migrate` on a real PostgreSQL server: an embedded gateway's whole state copied and its receipt chains verified; a tampered receipt and a non-empty target refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LowdbStore } from '../../src/gateway/store/lowdb-store.js';
import { AppendLog } from '../../src/gateway/store/append-log.js';
import { ReceiptLog, type MoneyRecord } from '../../src/gateway/billing/receipt-log.js';
import { EventLog } from '../../src/gateway/events/event-log.js';
import { OrderArchive } from '../../src/gateway/orders/order-archive.js';
import { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import { PgDatabase } from '../../src/gateway/store/postgres/pg-database.js';
import { PgStore } from '../../src/gateway/store/postgres/pg-store.js';
import { PgMoneyStore } from '../../src/gateway/store/postgres/pg-money-store.js';
import { receiptHash, verifyReceiptChain, type ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { treeHeadHash, type SignedTreeHead } from '../../src/protocol/tree-head.js';
import { HYPHA_BIN, scratchDir } from '../helpers/paths.js';
import { PG_SKIP } from '../helpers/postgres.js';
import { freshDatabase, sql } from '../helpers/pg-databases.js';
import { headOver, HOUR, T0, v2Body } from '../helpers/receipts.js';

const run = promisify(execFile);

/** The records of one close, as BillingService appends them. */
function closeRecords(bodies: readonly ReceiptBodyV2[], startMs: number, head: SignedTreeHead): MoneyRecord[] {
  return [
    { t: 'close_begin', periodStartMs: startMs },
    ...bodies.map((b, index): MoneyRecord => ({ t: 'receipt', receipt: b, periodStartMs: startMs, key: `k:${b.id}`, hash: receiptHash(b), index })),
    { t: 'tree_head', periodStartMs: startMs, head },
  ];
}

/** An embedded gateway's folder: state, two closed periods (one after a close cut short), events, an archived order, a funded ledger. */
async function embeddedGateway(dir: string): Promise<void> {
  const store = await LowdbStore.open(dir);
  await store.links.put('4a1::/64', { subnet: '4a1::/64', agent: 'uhCAkX', address: '4a1::1', linkedAtMs: 1, nonce: 'n', statement: 's', signature: 'sig' });
  await store.meta.put('billing.cursor', { periodStartMs: T0 + HOUR });
  await store.close();
  const receipts = ReceiptLog.open(join(dir, 'receipts.log')).receipts;
  const p0 = [v2Body({ deployment: 'dep_a' }), v2Body({ deployment: 'dep_b' })];
  const h0 = headOver(p0, T0, null);
  await receipts.append(closeRecords(p0, T0, h0));
  const next = (upSeconds: number): ReceiptBodyV2[] => p0.map((b) => v2Body({ deployment: b.deployment, startMs: T0 + HOUR, prev: receiptHash(b), upSeconds }));
  await receipts.append(closeRecords(next(10), T0 + HOUR, headOver(next(10), T0 + HOUR, treeHeadHash(h0))).slice(0, -1));
  await receipts.append(closeRecords(next(3600), T0 + HOUR, headOver(next(3600), T0 + HOUR, treeHeadHash(h0))));
  await receipts.append([{ t: 'paid', id: (p0[0] as ReceiptBodyV2).id, entryId: 'e1', atMs: T0 + HOUR }]);
  receipts.close();
  const events = EventLog.open(join(dir, 'events.log')).events;
  await events.record({ atMs: T0, event: 'order.paid', detail: 'paid — naïve ✓', order: 'o1' });
  events.close();
  const archive = OrderArchive.open(join(dir, 'orders-archive.log'), 10).archive;
  await archive.add({ id: 'o0', customer: 'uhCAkcustomer', offer: 'small', name: 'vm', sshKeys: [], pricePerHour: '0.050000', deposit: '1.200000', unit: 'HOT', state: 'expired', createdAtMs: T0, expiresAtMs: T0 + HOUR, attempts: [] });
  archive.close();
  const ledger = EmbeddedLedger.open(join(dir, 'ledger'));
  await ledger.fund('uhCAkcustomer', 18_446_744_073_709_551_617n, 'fund-1');
  await ledger.close();
}

test('hypha store migrate copies everything, verifies the chains read back, and refuses to copy into a database that holds data', { skip: PG_SKIP }, async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  await embeddedGateway(dir);
  const url = await freshDatabase();
  const { stdout } = await run(process.execPath, [HYPHA_BIN, 'store', 'migrate', '--from', dir, '--to', url]);
  assert.match(stdout, /links +1 row/);
  assert.match(stdout, /money log +12 record/, 'every record, the abandoned close included');
  assert.match(stdout, /events +1 event/);
  assert.match(stdout, /order archive +1 order/);
  assert.match(stdout, /ledger +1 journal entry/);
  assert.match(stdout, /verified: 4 receipt\(s\) in 2 chain\(s\)/);

  const db = await PgDatabase.open({ url });
  const store = await PgStore.open(db);
  assert.deepEqual(store.meta.get('billing.cursor'), { periodStartMs: T0 + HOUR });
  const { receipts, uncommitted } = await ReceiptLog.over((replay) => PgMoneyStore.open(db, replay));
  assert.equal(uncommitted, 0);
  assert.equal((await receipts.of('dep_a'))[0]?.state, 'paid');
  const chain = await Promise.all((await receipts.of('dep_b')).map((e) => receipts.present(e)));
  assert.deepEqual(chain.map((r) => r.upSeconds), [3540, 3600], 'the re-issued close is the one that counts');
  assert.deepEqual(verifyReceiptChain(chain), { ok: true });
  await store.close();
  await db.close();
  const [fund] = await sql<{ amount: string }>(url, "SELECT record->>'amountMicros' AS amount FROM ledger_journal");
  assert.equal(fund?.amount, '18446744073709551617');
  assert.equal((await sql(url, "SELECT 1 FROM money_log WHERE abandoned")).length, 2, 'the receipts of the cut close are kept, marked abandoned');

  await assert.rejects(run(process.execPath, [HYPHA_BIN, 'store', 'migrate', '--from', dir, '--to', url]), (e: { code?: number; stderr?: string }) => e.code === 1 && /already holds data/.test(e.stderr ?? ''));
});

test('hypha store migrate refuses a tampered receipt (its log re-chained so only the receipt check can tell) and writes nothing', { skip: PG_SKIP }, async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  await embeddedGateway(dir);
  const records = AppendLog.read<MoneyRecord>(join(dir, 'receipts.log'));
  const tampered = records.map((r) => (r.t === 'receipt' && r.receipt.deployment === 'dep_b' && r.periodStartMs === T0 ? { ...r, receipt: { ...r.receipt, amount: '0.010000' } } : r));
  mkdirSync(join(dir, 'new'));
  const { log } = AppendLog.open<MoneyRecord>(join(dir, 'new', 'receipts.log'));
  log.appendSync(...tampered);
  log.close();
  await run('mv', [join(dir, 'new', 'receipts.log'), join(dir, 'receipts.log')]);
  const url = await freshDatabase();
  await assert.rejects(
    run(process.execPath, [HYPHA_BIN, 'store', 'migrate', '--from', dir, '--to', url]),
    (e: { code?: number; stderr?: string }) => e.code === 1 && /dep_b do not verify/.test(e.stderr ?? ''),
  );
  const db = await PgDatabase.open({ url });
  await db.close();
  for (const table of ['money_log', 'links', 'ledger_journal']) assert.deepEqual(await sql(url, `SELECT * FROM ${table}`), [], `${table} is empty`);
});
