// `hypha store migrate`: copies an embedded gateway's whole state into an empty PostgreSQL database, verifying receipt chains before and after.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { errorMessage } from '../../../identity/error-message.js';
import { verifyReceiptChain } from '../../../protocol/receipt.js';
import { ReceiptLog, type MoneyRecord } from '../../billing/receipt-log.js';
import type { TimelineEvent } from '../../events/event-log.js';
import type { LedgerEntry } from '../../ledger/embedded-ledger.js';
import { AppendLog } from '../append-log.js';
import { STORE_VERSION } from '../lowdb-store.js';
import type { RecordLog } from '../record-log.js';
import type { OrderRecord } from '../records.js';
import { StoreError } from '../store.js';
import { insertRecords, type PgLogTable } from './pg-append-log.js';
import { PgDatabase } from './pg-database.js';
import { EVENTS, LEDGER_JOURNAL, loadMoneyLog, MONEY_LOG, ORDER_ARCHIVE } from './pg-logs.js';

const TABLES = ['links', 'agents', 'orders', 'deployments', 'chains', 'meta'] as const;

/** Rows per INSERT statement while copying. */
const CHUNK = 5000;

/** What was copied. */
export interface CopyReport {
  /** Rows copied per state table. */
  readonly tables: Readonly<Record<(typeof TABLES)[number], number>>;
  readonly moneyRecords: number;
  readonly events: number;
  readonly archivedOrders: number;
  readonly ledgerEntries: number;
  /** Deployments whose receipt chain verified in the database after the copy, and their receipts. */
  readonly chainsVerified: number;
  readonly receiptsVerified: number;
}

/** Where to copy from and to. */
export interface CopyOptions {
  /** The embedded gateway's data folder (db.json, receipts.log, events.log, orders-archive.log). */
  readonly from: string;
  /** The embedded ledger's folder (default `from/ledger`); its journal.log is copied when present. */
  readonly ledgerDir?: string;
  readonly url: string;
}

/**
 * Reads the embedded state without changing it (a stopped gateway's folder), verifies every receipt
 * chain, refuses a database that already holds anything, copies all of it in one transaction, then
 * reads the money log back from the database and verifies the chains again.
 */
export async function copyEmbeddedToPostgres(options: CopyOptions): Promise<CopyReport> {
  const source = readEmbedded(options.from, options.ledgerDir ?? join(options.from, 'ledger'));
  const before = verifyMoneyLog(source.money, 'the source receipts.log');
  const db = await PgDatabase.open({ url: options.url });
  try {
    const used = await nonEmptyTables(db);
    if (used.length > 0) throw new StoreError('io', `store.migrate: ${db.where} already holds data (${used.join(', ')}); migrate into an empty database`);
    await db.write('store.migrate', async (client) => {
      for (const t of TABLES) await insertRows(client, t, source.tables[t]);
      await copyLog(client, MONEY_LOG, source.money, (r) => r.t === 'close_begin');
      await copyLog(client, EVENTS, source.events);
      await copyLog(client, ORDER_ARCHIVE, source.archive);
      await copyLog(client, LEDGER_JOURNAL, source.journal);
    });
    const copied = [...(await loadMoneyLog(db)).records];
    const after = verifyMoneyLog(copied, `the money log in ${db.where}`);
    if (after.receipts !== before.receipts || after.chains !== before.chains) {
      throw new StoreError('corrupt', `store.migrate: ${before.receipts} receipts in ${before.chains} chains were read, but ${after.receipts} in ${after.chains} came back from the database`);
    }
    return {
      tables: Object.fromEntries(TABLES.map((t) => [t, Object.keys(source.tables[t]).length])) as CopyReport['tables'],
      moneyRecords: source.money.length,
      events: source.events.length,
      archivedOrders: source.archive.length,
      ledgerEntries: source.journal.length,
      chainsVerified: after.chains,
      receiptsVerified: after.receipts,
    };
  } finally {
    await db.close();
  }
}

interface EmbeddedState {
  readonly tables: Record<(typeof TABLES)[number], Record<string, unknown>>;
  readonly money: MoneyRecord[];
  readonly events: TimelineEvent[];
  readonly archive: OrderRecord[];
  readonly journal: LedgerEntry[];
}

/** Reads db.json and the logs read-only (each log's hash chain checked; a torn last line is not copied). */
function readEmbedded(dir: string, ledgerDir: string): EmbeddedState {
  const dbPath = join(dir, 'db.json');
  if (!existsSync(dbPath)) throw new StoreError('io', `store.migrate: ${dbPath} not found: --from must be an embedded gateway's data folder`);
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(readFileSync(dbPath, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new StoreError('corrupt', `store.migrate: ${dbPath} is not JSON: ${errorMessage(err)}`);
  }
  if (data === null || typeof data !== 'object' || data.version !== STORE_VERSION) throw new StoreError('version', `store.migrate: ${dbPath} is not a version ${STORE_VERSION} hypha store`);
  const tables = {} as EmbeddedState['tables'];
  for (const t of TABLES) {
    const rows = data[t];
    if (rows === null || typeof rows !== 'object' || Array.isArray(rows)) throw new StoreError('corrupt', `store.migrate: ${dbPath}: "${t}" is missing or not an object`);
    tables[t] = rows as Record<string, unknown>;
  }
  const read = <T>(path: string): T[] => (existsSync(path) ? AppendLog.read<T>(path) : []);
  return {
    tables,
    money: read<MoneyRecord>(join(dir, 'receipts.log')),
    events: read<TimelineEvent>(join(dir, 'events.log')),
    archive: read<OrderRecord>(join(dir, 'orders-archive.log')),
    journal: read<LedgerEntry>(join(ledgerDir, 'journal.log')),
  };
}

/** A log opened only to be read: appending is refused. */
class ReadOnlyLog<T> implements RecordLog<T> {
  constructor(readonly count: number) {}
  append(): Promise<void> {
    return Promise.reject(new StoreError('io', 'store.migrate: the source log is read-only'));
  }
  close(): void {}
}

/**
 * Rebuilds the money log's indexes (which check each receipt names its predecessor and each tree head
 * its predecessor) and verifies every deployment's chain as a customer would (signatures, proofs,
 * arithmetic). Throws StoreError 'corrupt' naming the first receipt that fails.
 */
function verifyMoneyLog(records: readonly MoneyRecord[], what: string): { chains: number; receipts: number } {
  let receipts: ReceiptLog;
  try {
    receipts = ReceiptLog.load({ log: new ReadOnlyLog<MoneyRecord>(records.length), records }).receipts;
  } catch (err) {
    throw new StoreError('corrupt', `store.migrate: ${what}: ${errorMessage(err)}`);
  }
  const deployments = new Set<string>();
  for (const r of records) if (r.t === 'receipt') deployments.add(r.receipt.deployment);
  let count = 0;
  let chains = 0;
  for (const d of deployments) {
    const chain = receipts.of(d).map((e) => receipts.present(e));
    if (chain.length === 0) continue;
    const result = verifyReceiptChain(chain);
    if (!result.ok) throw new StoreError('corrupt', `store.migrate: ${what}: the receipts of deployment ${d} do not verify: ${result.reason}`);
    chains++;
    count += chain.length;
  }
  return { chains, receipts: count };
}

async function nonEmptyTables(db: PgDatabase): Promise<string[]> {
  const names = [...TABLES, 'money_log', 'events', 'order_archive', 'ledger_journal'];
  const used: string[] = [];
  for (const t of names) if ((await db.query('store.migrate', `SELECT 1 FROM ${t} LIMIT 1`)).length > 0) used.push(t);
  return used;
}

async function insertRows(client: pg.ClientBase, table: string, rows: Record<string, unknown>): Promise<void> {
  const keys = Object.keys(rows);
  for (let i = 0; i < keys.length; i += CHUNK) {
    const part = keys.slice(i, i + CHUNK);
    await client.query(`INSERT INTO ${table} (key, value) SELECT k, v::jsonb FROM unnest($1::text[], $2::text[]) AS x(k, v)`, [part, part.map((k) => JSON.stringify(rows[k]))]);
  }
}

/** Inserts a log's records in order, in chunks; a record for which `startsChunk` holds begins a new one (so `before` sees what precedes it). */
async function copyLog<T>(client: pg.ClientBase, spec: PgLogTable<T>, records: readonly T[], startsChunk: (r: T) => boolean = () => false): Promise<void> {
  let chunk: T[] = [];
  for (const r of records) {
    if (chunk.length >= CHUNK || (chunk.length > 0 && startsChunk(r))) {
      await insertRecords(client, spec, chunk);
      chunk = [];
    }
    chunk.push(r);
  }
  if (chunk.length > 0) await insertRecords(client, spec, chunk);
}
