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
import type { OrderRecord } from '../records.js';
import { StoreError } from '../store.js';
import { insertRecords, type PgLogTable } from './pg-append-log.js';
import { PgDatabase } from './pg-database.js';
import { EVENTS, LEDGER_JOURNAL, MONEY_LOG, ORDER_ARCHIVE } from './pg-logs.js';
import { PgMoneyStore } from './pg-money-store.js';
import type { MoneyStore } from '../../billing/money-store.js';

const TABLES = ['links', 'agents', 'orders', 'deployments', 'chains', 'meta', 'requests'] as const;

/** Tables a version 1 db.json may lack (added later; LowdbStore adds them empty at open). */
const ADDED_TABLES: ReadonlySet<string> = new Set(['requests']);

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
  const before = await verifyMoneyLog((replay) => ArrayMoneyStore.open(source.money, replay), 'the source receipts.log');
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
    const after = await verifyMoneyLog((replay) => PgMoneyStore.open(db, replay), `the money log in ${db.where}`);
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
    const rows = data[t] === undefined && ADDED_TABLES.has(t) ? {} : data[t];
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

/** A log already read into memory, as a MoneyStore that only reads (positions are indexes): the source of a copy. */
class ArrayMoneyStore implements MoneyStore {
  private constructor(private readonly records: readonly MoneyRecord[]) {}
  /** Replays the records (positions are indexes), then answers the store. */
  static open(records: readonly MoneyRecord[], replay: (record: MoneyRecord, position: number) => void): Promise<ArrayMoneyStore> {
    records.forEach((r, i) => replay(r, i));
    return Promise.resolve(new ArrayMoneyStore(records));
  }
  append(): Promise<number[]> {
    return Promise.reject(new StoreError('io', 'store.migrate: the source log is read-only'));
  }
  read(positions: readonly number[]): Promise<MoneyRecord[]> {
    return Promise.resolve(positions.map((p) => this.records[p] as MoneyRecord));
  }
  readRange(from: number, to: number): Promise<Array<{ position: number; record: MoneyRecord }>> {
    const out: Array<{ position: number; record: MoneyRecord }> = [];
    for (let p = from; p <= to && p < this.records.length; p++) out.push({ position: p, record: this.records[p] as MoneyRecord });
    return Promise.resolve(out);
  }
  close(): void {}
}

/**
 * Rebuilds the money log's indexes from a store (which checks each receipt names its predecessor
 * and each tree head its predecessor) and verifies every deployment's chain as a customer would
 * (signatures, proofs, arithmetic). Throws StoreError 'corrupt' naming the first receipt that fails.
 */
async function verifyMoneyLog(openStore: (replay: (record: MoneyRecord, position: number) => void) => Promise<MoneyStore>, what: string): Promise<{ chains: number; receipts: number }> {
  const deployments = new Set<string>();
  let receipts: ReceiptLog;
  try {
    receipts = (
      await ReceiptLog.over(async (replay) => {
        const store = await openStore((record, position) => {
          if (record.t === 'receipt') deployments.add(record.receipt.deployment);
          replay(record, position);
        });
        return store;
      })
    ).receipts;
  } catch (err) {
    throw new StoreError('corrupt', `store.migrate: ${what}: ${errorMessage(err)}`);
  }
  let count = 0;
  let chains = 0;
  for (const d of deployments) {
    const chain = await Promise.all((await receipts.of(d)).map((e) => receipts.present(e)));
    if (chain.length === 0) continue;
    const result = verifyReceiptChain(chain);
    if (!result.ok) throw new StoreError('corrupt', `store.migrate: ${what}: the receipts of deployment ${d} do not verify: ${result.reason}`);
    chains++;
    count += chain.length;
  }
  receipts.close();
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
    // In the file's order, so the gateway lists the rows as the embedded one did (each takes its seq in turn).
    await client.query(`INSERT INTO ${table} (key, value) SELECT k, v::jsonb FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(k, v, n) ORDER BY n`, [part, part.map((k) => JSON.stringify(rows[k]))]);
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
