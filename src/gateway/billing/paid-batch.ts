// How a settle batches what it appends: records per fsync, and the paid receipts gathered into one `paid_batch` record.
import type { MoneyRecord } from './receipt-log.js';

/**
 * Records appended per fsync while settling (a crash just re-posts the unrecorded ones,
 * idempotently). bench/billing: at 256, a 100k close spent most of its settle in ~800 fdatasyncs.
 */
export const SETTLE_BATCH = 8192;

/** Receipts paid in one settle batch, gathered into one `paid_batch` record (bench/billing: a `paid` line per receipt was a tenth of a close). */
export class PaidBatch {
  private ids: string[] = [];
  private entryIds: Array<string | null> = [];
  private atMs = 0;

  /** How many paid receipts are gathered. */
  get size(): number {
    return this.ids.length;
  }

  /** Gathers one `paid` record; the batch's time is its last receipt's. */
  add(r: MoneyRecord & { t: 'paid' }): void {
    this.ids.push(r.id);
    this.entryIds.push(r.entryId);
    this.atMs = r.atMs;
  }

  /** The batch's record (none when empty), and a fresh batch. */
  take(): MoneyRecord[] {
    if (this.ids.length === 0) return [];
    const record: MoneyRecord = { t: 'paid_batch', ids: this.ids, entryIds: this.entryIds, atMs: this.atMs };
    this.ids = [];
    this.entryIds = [];
    return [record];
  }
}
