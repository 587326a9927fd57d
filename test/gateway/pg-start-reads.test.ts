// What a PostgreSQL start reads of the timeline, the order archive and the money log's checkpoint (a real server, the plans' actual row counts): each customer's and /64's newest rows, the receipts and parts the checkpoint names, never the whole table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { namedPositions } from '../../src/gateway/billing/money-checkpoint.js';
import { ReceiptLog } from '../../src/gateway/billing/receipt-log.js';
import { PgDatabase } from '../../src/gateway/store/postgres/pg-database.js';
import { EVENTS_OPEN_SQL, loadOrderArchive, ORDER_ARCHIVE_OPEN_SQL } from '../../src/gateway/store/postgres/pg-logs.js';
import { NAMED_RECORDS_SQL } from '../../src/gateway/store/postgres/pg-money-checkpoint.js';
import { PgMoneyStore } from '../../src/gateway/store/postgres/pg-money-store.js';
import { MoneyHistory } from '../helpers/money-ops.js';
import type { OrderRecord } from '../../src/gateway/store/records.js';
import { freshDatabase, sql } from '../helpers/pg-databases.js';
import { PG_SKIP } from '../helpers/postgres.js';

/** A plan node of EXPLAIN (ANALYZE, FORMAT JSON), as much of it as the test reads. */
interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows': number;
  'Rows Removed by Filter'?: number;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

/** Rows the server read from `table` running `text` (every scan node on it: rows x loops). */
async function rowsRead(url: string, table: string, text: string, values: unknown[]): Promise<number> {
  const [row] = await sql<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(url, `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values);
  const walk = (n: PlanNode): number => (n['Relation Name'] === table ? n['Actual Rows'] * n['Actual Loops'] : 0) + (n.Plans ?? []).reduce((s, c) => s + walk(c), 0);
  return walk((row as { 'QUERY PLAN': Array<{ Plan: PlanNode }> })['QUERY PLAN'][0]?.Plan as PlanNode);
}

test("PostgreSQL start: the timeline's newest events and each customer's and /64's newest orders are read from the front of an index, not the whole table", { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  await (await PgDatabase.open({ url })).close();
  // 6,000 archived orders of 3 customers over 4 /64s (some with none), 5,000 events.
  await sql(
    url,
    `INSERT INTO order_archive (customer, subnet, created_at_ms, record)
       SELECT 'c' || (i % 3), CASE WHEN i % 5 = 0 THEN NULL ELSE 's' || (i % 4) END, i / 2,
              jsonb_build_object('id', 'o' || i, 'customer', 'c' || (i % 3), 'createdAtMs', i / 2)
         FROM generate_series(1, 6000) i`,
  );
  await sql(url, "INSERT INTO events (record) SELECT jsonb_build_object('atMs', i, 'event', 'order.created') FROM generate_series(1, 5000) i");
  await sql(url, 'ANALYZE');

  const keep = 2;
  const all = await sql<{ seq: string; id: string; customer: string; subnet: string | null; created_at_ms: string }>(url, "SELECT seq::text, record->>'id' AS id, customer, subnet, created_at_ms::text FROM order_archive");
  const newest = (rows: typeof all): string[] => [...rows].sort((a, b) => Number(b.created_at_ms) - Number(a.created_at_ms) || Number(b.seq) - Number(a.seq)).slice(0, keep).map((r) => r.seq);
  const expected = new Set<string>();
  for (const c of new Set(all.map((r) => r.customer))) for (const s of newest(all.filter((r) => r.customer === c))) expected.add(s);
  for (const n of new Set(all.map((r) => r.subnet))) if (n !== null) for (const s of newest(all.filter((r) => r.subnet === n))) expected.add(s);
  const bySeq = new Map(all.map((r) => [r.seq, r]));
  const expectedIds = [...expected].sort((a, b) => Number(a) - Number(b)).map((s) => bySeq.get(s)?.id);

  const db = await PgDatabase.open({ url });
  const loaded = await loadOrderArchive(db, keep);
  await db.close();
  assert.deepEqual([...loaded.records].map((o: OrderRecord) => o.id), expectedIds, "each customer's and /64's newest orders, by seq");
  assert.equal(loaded.log.count, 6000);

  // 3 customers and 4 /64s: a few index steps each, and `keep` rows each; nothing near 6,000.
  const archiveRows = await rowsRead(url, 'order_archive', ORDER_ARCHIVE_OPEN_SQL, [keep]);
  assert.ok(archiveRows <= 3 * (keep + 2) + 4 * (keep + 2) + expected.size, `the archive's open read ${archiveRows} rows of 6,000`);
  const eventRows = await rowsRead(url, 'events', EVENTS_OPEN_SQL, [10]);
  assert.equal(eventRows, 10, 'the timeline read its newest 10 events, no more');
});

/** Rows the server looked at in `table` running `text`: those answered and those a filter dropped (a scan of the table shows here). */
async function rowsTouched(url: string, table: string, text: string, values: unknown[]): Promise<number> {
  const [row] = await sql<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(url, `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values);
  const walk = (n: PlanNode): number => (n['Relation Name'] === table ? (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0)) * n['Actual Loops'] : 0) + (n.Plans ?? []).reduce((s, c) => s + walk(c), 0);
  return walk((row as { 'QUERY PLAN': Array<{ Plan: PlanNode }> })['QUERY PLAN'][0]?.Plan as PlanNode);
}

test("PostgreSQL start: the money log's checkpoint reads the receipts it names by position (one index probe each), not the log", { skip: PG_SKIP }, async () => {
  const url = await freshDatabase();
  const db = await PgDatabase.open({ url });
  const log = (await ReceiptLog.over((replay, restore) => PgMoneyStore.open(db, replay, restore), { checkpointEvery: 1 })).receipts;
  const history = new MoneyHistory(log);
  // Closes and payments: receipts stay live (issued) in the kept trees, so the checkpoint names them by position.
  for (let i = 0; i < 40; i++) await history.step({ kind: i % 4 === 3 ? 'pay' : 'close', pick: i });
  log.close();
  await db.close();
  await sql(url, 'ANALYZE');
  const [row] = await sql<{ body: Buffer; parts: Array<{ name: string }> }>(url, 'SELECT body, parts FROM money_checkpoint');
  assert.ok(row, 'a format 2 checkpoint row');
  const positions = namedPositions(row.body);
  const [{ n: logRows }] = (await sql<{ n: string }>(url, 'SELECT count(*)::text AS n FROM money_log')) as [{ n: string }];
  assert.ok(positions.length > 0 && positions.length * 3 < Number(logRows), `a few of the log's rows are named (${positions.length} of ${logRows})`);
  assert.equal(await rowsTouched(url, 'money_log', NAMED_RECORDS_SQL, [positions.map(String)]), positions.length, 'one row read per position named');
  // The part table holds at most TREES_KEPT rows (the planner may scan it whole); each part is asked for by name.
  assert.ok(row.parts.length > 0 && row.parts.length <= 8);
});
