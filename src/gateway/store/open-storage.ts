// Opens everything the gateway keeps (state tables, money log, timeline, order archive) from the configured backend.
import { join } from 'node:path';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import { EventLog } from '../events/event-log.js';
import { ReceiptLog } from '../billing/receipt-log.js';
import { OrderArchive } from '../orders/order-archive.js';
import type { LedgerEntry } from '../ledger/embedded-ledger.js';
import { LowdbStore } from './lowdb-store.js';
import type { LoadedLog } from './record-log.js';
import type { Store } from './store.js';
import type { WriteFence } from './write-fence.js';
import { PgDatabase } from './postgres/pg-database.js';
import { PgStore } from './postgres/pg-store.js';
import { redactDatabaseUrl } from './postgres/redact-url.js';
import { loadEvents, loadLedgerJournal, loadOrderArchive } from './postgres/pg-logs.js';
import { PgMoneyStore } from './postgres/pg-money-store.js';

/** The gateway's durable parts, opened together and closed together (in reverse). */
export interface Storage {
  readonly store: Store;
  readonly events: EventLog;
  readonly receipts: ReceiptLog;
  readonly archive: OrderArchive;
  /**
   * The embedded ledger's journal when the backend keeps it (PostgreSQL); absent for the embedded
   * backend, whose ledger opens its own file under ledger.dir.
   */
  readonly ledgerJournal?: LoadedLog<LedgerEntry>;
  /** Closes every part, newest first; safe to call once. */
  close(): Promise<void>;
}

/** Options for `openStorage`. */
export interface StorageOptions {
  /** Checked in every write transaction of a shared backend (PostgreSQL): the active lease. */
  readonly fence?: WriteFence<pg.PoolClient>;
  /** The PostgreSQL connections' `application_name` (the lease holder's, src/gateway/ha/holder-connections.ts). */
  readonly applicationName?: string;
}

/** Closes opened parts newest first, logging (not throwing) a part that fails to close. */
function closerOf(log: Logger): { opened: { close(): Promise<void> | void }[]; close: () => Promise<void> } {
  const opened: { close(): Promise<void> | void }[] = [];
  const close = async (): Promise<void> => {
    while (opened.length > 0) {
      try {
        await opened.pop()?.close();
      } catch (err) {
        log.warn({ err }, 'storage.close: a part failed to close');
      }
    }
  };
  return { opened, close };
}

/** Opens the configured backend: the embedded files in dataDir, or a PostgreSQL database. */
export function openStorage(config: GatewayConfig, log: Logger, options: StorageOptions = {}): Promise<Storage> {
  return config.store.kind === 'postgres' ? openPostgresStorage(config.store.url, config, log, options) : openEmbeddedStorage(config, log);
}

/**
 * Opens the embedded backend: `db.json` (lowdb) and the append-only logs beside it. Torn last lines
 * (a crash mid-write, never acknowledged) and an unfinished period close are reported, not hidden.
 */
async function openEmbeddedStorage(config: GatewayConfig, log: Logger): Promise<Storage> {
  const { opened, close } = closerOf(log);
  try {
    const store = await LowdbStore.open(config.dataDir);
    opened.push(store);
    const timeline = EventLog.open(join(config.dataDir, 'events.log'), config.events.keepInMemory);
    opened.push(timeline.events);
    const money = ReceiptLog.open(join(config.dataDir, 'receipts.log'));
    opened.push(money.receipts);
    const history = OrderArchive.open(join(config.dataDir, 'orders-archive.log'), config.orders.historyPerCustomer);
    opened.push(history.archive);
    for (const [file, torn] of [['events.log', timeline.tornBytes], ['receipts.log', money.tornBytes], ['orders-archive.log', history.tornBytes]] as const) {
      if (torn > 0) log.warn({ file, tornBytes: torn }, '%s ended with an unfinished line (a crash mid-write, never acknowledged); it was moved aside', file);
    }
    if (money.uncommitted > 0) log.warn({ receipts: money.uncommitted }, 'receipts.log: a period close was cut short before its tree head; its %d receipt(s) are not counted and the period is closed again', money.uncommitted);
    return { store, events: timeline.events, receipts: money.receipts, archive: history.archive, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Opens the PostgreSQL backend: migrates the schema (or refuses a newer one), reads the state tables,
 * the money log's checkpoint and the rows after it, the newest events and each customer's newest archived orders. A transaction
 * commits whole or not at all, so there is no torn record to report.
 */
async function openPostgresStorage(url: string, config: GatewayConfig, log: Logger, options: StorageOptions): Promise<Storage> {
  const { opened, close } = closerOf(log);
  try {
    const where = redactDatabaseUrl(url);
    const db = await PgDatabase.open({
      url,
      ...(options.fence ? { fence: options.fence } : {}),
      ...(options.applicationName !== undefined ? { applicationName: options.applicationName } : {}),
      onConnectionError: (err) => log.warn({ err: err.message, database: where }, 'storage: a database connection failed while idle; the next query reconnects'),
    });
    opened.push(db);
    log.info({ database: db.where, schema: db.schema.version, applied: db.schema.applied }, 'storage: PostgreSQL at %s, schema version %d', db.where, db.schema.version);
    const store = await PgStore.open(db);
    opened.push(store);
    const events = EventLog.load(await loadEvents(db, config.events.keepInMemory), config.events.keepInMemory);
    opened.push(events);
    const money = await ReceiptLog.over((replay, restore) => PgMoneyStore.open(db, replay, restore));
    opened.push(money.receipts);
    const archive = OrderArchive.load(await loadOrderArchive(db, config.orders.historyPerCustomer), config.orders.historyPerCustomer);
    opened.push(archive);
    const ledgerJournal = await loadLedgerJournal(db);
    if (money.uncommitted > 0) log.warn({ receipts: money.uncommitted }, 'money_log: a period close was cut short before its tree head; its %d receipt(s) are not counted and the period is closed again', money.uncommitted);
    return { store, events, receipts: money.receipts, archive, ledgerJournal, close };
  } catch (err) {
    await close();
    throw err;
  }
}
