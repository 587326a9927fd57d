// Opens everything the gateway keeps (state tables, money log, timeline, order archive) from the configured backend.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import { EventLog } from '../events/event-log.js';
import { ReceiptLog } from '../billing/receipt-log.js';
import { OrderArchive } from '../orders/order-archive.js';
import { LowdbStore } from './lowdb-store.js';
import type { Store } from './store.js';
import type { WriteFence } from './write-fence.js';
import type { FenceQueryable } from '../ha/lease-fence.js';

/** The gateway's durable parts, opened together and closed together (in reverse). */
export interface Storage {
  readonly store: Store;
  readonly events: EventLog;
  readonly receipts: ReceiptLog;
  readonly archive: OrderArchive;
  /** Closes every part, newest first; safe to call once. */
  close(): Promise<void>;
}

/** What the gateway hands the backend it opens. */
export interface OpenStorageOptions {
  /**
   * The active lease's fence (src/gateway/ha/lease-fence.ts), for a shared backend to check inside
   * every write transaction; absent with the embedded store's always-active lease. The embedded
   * backend ignores it: one process owns its files.
   */
  readonly fence?: WriteFence<FenceQueryable>;
}

/**
 * Opens the embedded backend: `db.json` (lowdb) and the append-only logs beside it. Torn last lines
 * (a crash mid-write, never acknowledged) and an unfinished period close are reported, not hidden.
 */
export async function openStorage(config: GatewayConfig, log: Logger, _options: OpenStorageOptions = {}): Promise<Storage> {
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
