// The gateway's four append-only logs on PostgreSQL: what each table indexes, and what each reads at open.
import type pg from 'pg';
import type { MoneyRecord } from '../../billing/receipt-log.js';
import type { TimelineEvent } from '../../events/event-log.js';
import type { LedgerEntry } from '../../ledger/embedded-ledger.js';
import type { OrderRecord } from '../records.js';
import type { LoadedLog } from '../record-log.js';
import { PgAppendLog, type PgLogTable } from './pg-append-log.js';
import type { PgDatabase } from './pg-database.js';

/** Rows read per query when a whole log is read (keyset pages by seq: bounded memory per query). */
const PAGE = 10_000;

/**
 * The money log. A `close_begin` retires (marks abandoned) the receipts of an earlier close of the same
 * period that never reached its tree head, in the same transaction: those were never counted (ReceiptLog
 * leaves them out), and the unique (deployment, period start) key must bind only the receipts that count.
 */
export const MONEY_LOG: PgLogTable<MoneyRecord> = {
  table: 'money_log',
  columns: ['kind', 'deployment', 'period_start_ms'],
  expressions: ["r->>'t'", "r->'receipt'->>'deployment'", "(r->>'periodStartMs')::bigint"],
  before: async (client: pg.ClientBase, records: readonly MoneyRecord[]) => {
    const periods = records.filter((r) => r.t === 'close_begin').map((r) => String(r.periodStartMs));
    if (periods.length === 0) return;
    await client.query(
      `UPDATE money_log m SET abandoned = true
        WHERE m.kind = 'receipt' AND NOT m.abandoned AND m.period_start_ms = ANY($1::bigint[]) AND m.record->'receipt'->>'v' = '2'
          AND NOT EXISTS (SELECT 1 FROM money_log h WHERE h.kind = 'tree_head' AND h.period_start_ms = m.period_start_ms)`,
      [periods],
    );
  },
};

/** The timeline. */
export const EVENTS: PgLogTable<TimelineEvent> = { table: 'events', columns: [], expressions: [] };

/** Finished orders, indexed by customer and /64 for the histories and the caps. */
export const ORDER_ARCHIVE: PgLogTable<OrderRecord> = {
  table: 'order_archive',
  columns: ['customer', 'subnet', 'created_at_ms'],
  expressions: ["r->>'customer'", "r->>'subnet'", "(r->>'createdAtMs')::bigint"],
};

/** The embedded ledger's journal. */
export const LEDGER_JOURNAL: PgLogTable<LedgerEntry> = { table: 'ledger_journal', columns: [], expressions: [] };

/** The newest `$1` events, oldest first: read backwards from the end of the primary key. */
export const EVENTS_OPEN_SQL = 'SELECT record FROM (SELECT seq, record FROM events ORDER BY seq DESC LIMIT $1) x ORDER BY seq';

/** The newest `keepInMemory` events by seq, oldest first: the timeline is never read whole. */
export async function loadEvents(db: PgDatabase, keepInMemory: number): Promise<LoadedLog<TimelineEvent>> {
  const rows = await db.query<{ record: TimelineEvent }>('events.open', EVENTS_OPEN_SQL, [keepInMemory]);
  const [{ n }] = (await db.query<{ n: string }>('events.open', 'SELECT count(*) AS n FROM events')) as [{ n: string }];
  return { log: new PgAppendLog(db, EVENTS, Number(n)), records: rows.map((r) => r.record) };
}

/**
 * Each customer's and each /64's newest `$1` finished orders, by seq. The customers and /64s are walked
 * one index step each (a loose index scan), and each one's newest orders read from the front of its
 * index: the server reads about (customers + /64s) x `$1` rows, not the whole archive (a window over
 * every row was O(archive) at each start).
 */
export const ORDER_ARCHIVE_OPEN_SQL = `
WITH RECURSIVE customers AS (
    (SELECT customer FROM order_archive ORDER BY customer LIMIT 1)
    UNION ALL
    SELECT (SELECT o.customer FROM order_archive o WHERE o.customer > c.customer ORDER BY o.customer LIMIT 1) FROM customers c WHERE c.customer IS NOT NULL
  ), subnets AS (
    (SELECT subnet FROM order_archive WHERE subnet IS NOT NULL ORDER BY subnet LIMIT 1)
    UNION ALL
    SELECT (SELECT o.subnet FROM order_archive o WHERE o.subnet > s.subnet ORDER BY o.subnet LIMIT 1) FROM subnets s WHERE s.subnet IS NOT NULL
  ), kept AS (
    SELECT x.seq FROM customers c CROSS JOIN LATERAL (SELECT o.seq FROM order_archive o WHERE o.customer = c.customer ORDER BY o.created_at_ms DESC, o.seq DESC LIMIT $1) x WHERE c.customer IS NOT NULL
    UNION
    SELECT x.seq FROM subnets s CROSS JOIN LATERAL (SELECT o.seq FROM order_archive o WHERE o.subnet = s.subnet ORDER BY o.created_at_ms DESC, o.seq DESC LIMIT $1) x WHERE s.subnet IS NOT NULL
  )
SELECT a.record FROM order_archive a WHERE a.seq = ANY (ARRAY(SELECT seq FROM kept)) ORDER BY a.seq`;

/**
 * Each customer's and each /64's newest `keepPerCustomer` finished orders (what OrderArchive keeps in
 * memory), oldest first: the archive is never read whole.
 */
export async function loadOrderArchive(db: PgDatabase, keepPerCustomer: number): Promise<LoadedLog<OrderRecord>> {
  const rows = await db.query<{ record: OrderRecord }>('order_archive.open', ORDER_ARCHIVE_OPEN_SQL, [keepPerCustomer]);
  const [{ n }] = (await db.query<{ n: string }>('order_archive.open', 'SELECT count(*) AS n FROM order_archive')) as [{ n: string }];
  return { log: new PgAppendLog(db, ORDER_ARCHIVE, Number(n)), records: rows.map((r) => r.record) };
}

/** The ledger journal, oldest first (balances are rebuilt from every entry). */
export async function loadLedgerJournal(db: PgDatabase): Promise<LoadedLog<LedgerEntry>> {
  const records = await readAll<LedgerEntry>(db, 'ledger_journal', 'true');
  return { log: new PgAppendLog(db, LEDGER_JOURNAL, records.length), records };
}

/** Every record of a log table matching `where`, by seq, in pages. */
async function readAll<T>(db: PgDatabase, table: string, where: string): Promise<T[]> {
  const out: T[] = [];
  let after = '0';
  for (;;) {
    const rows = await db.query<{ seq: string; record: T }>(`${table}.open`, `SELECT seq, record FROM ${table} WHERE seq > $1 AND ${where} ORDER BY seq LIMIT ${PAGE}`, [after]);
    for (const r of rows) out.push(r.record);
    if (rows.length < PAGE) return out;
    after = (rows[rows.length - 1] as { seq: string }).seq;
  }
}
