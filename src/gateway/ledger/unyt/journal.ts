// The Unyt adapter's idempotency journal: which keys were parked, charged and paid out, on the project's hash-chained append log.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppendLog } from '../../store/append-log.js';

/** An invoice was parked on the agreement (its link id), not yet known to be paid. */
export interface BillParked {
  readonly kind: 'bill';
  readonly state: 'parked';
  readonly key: string;
  readonly customer: string;
  readonly farmer: string;
  readonly amount: string;
  readonly unit: string;
  readonly linkId: string;
}

/** A RAVE consumed the invoice: the customer paid, the farmer's share is allocated to the farmer. */
export interface BillPaid {
  readonly kind: 'bill';
  readonly state: 'paid';
  readonly key: string;
  readonly customer: string;
  readonly farmer: string;
  readonly amount: string;
  readonly unit: string;
  /** The RAVE's ActionHash, or the invoice's link id when the RAVE ran before a crash and only its effect was seen. */
  readonly entryId: string;
  /** The farmer's share the agreement allocated (decimal), and the receipts the charge was for. */
  readonly farmerAmount: string;
  readonly receiptIds: readonly string[];
}

/** A payout was acknowledged: it names the RAVE that allocated the farmer's share. */
export interface PayoutDone {
  readonly kind: 'pay';
  readonly state: 'paid';
  readonly key: string;
  readonly farmer: string;
  readonly amount: string;
  readonly unit: string;
  readonly entryId: string;
}

/** One line of the journal. */
export type JournalRecord = BillParked | BillPaid | PayoutDone;

/**
 * The latest record per key, and the paid bill of each receipt, kept in memory (they grow with
 * the receipt log, which holds the same receipts) and appended fsynced before an answer is given.
 * Opening refuses a damaged log (AppendLog: hash chain, 0600) rather than risk charging twice.
 */
export class UnytJournal {
  readonly #log: AppendLog<JournalRecord>;
  readonly #latest = new Map<string, JournalRecord>();
  readonly #billOfReceipt = new Map<string, BillPaid>();
  /** Bytes of an unfinished last line found on open (moved aside by AppendLog, never dropped silently). */
  readonly tornBytes: number;

  private constructor(log: AppendLog<JournalRecord>, records: JournalRecord[], tornBytes: number) {
    this.#log = log;
    this.tornBytes = tornBytes;
    for (const r of records) this.#index(r);
  }

  /** Opens (or creates, mode 0600) the journal at `path`. Throws StoreError when it is damaged or readable by others. */
  static open(path: string): UnytJournal {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const opened = AppendLog.open<JournalRecord>(path);
    return new UnytJournal(opened.log, opened.records, opened.tornBytes);
  }

  /** The latest record of a bill or payout key. */
  get(kind: JournalRecord['kind'], key: string): JournalRecord | undefined {
    return this.#latest.get(`${kind}:${key}`);
  }

  /** The paid bill that charged for a receipt. */
  billOfReceipt(receiptId: string): BillPaid | undefined {
    return this.#billOfReceipt.get(receiptId);
  }

  /** Appends a record; resolves once it is on disk. */
  async put(record: JournalRecord): Promise<void> {
    await this.#log.append(record);
    this.#index(record);
  }

  /** Appends records in one fsynced step (a batch's bills); resolves once they are on disk. */
  async putAll(records: readonly JournalRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.#log.append(...records);
    for (const r of records) this.#index(r);
  }

  close(): void {
    this.#log.close();
  }

  #index(r: JournalRecord): void {
    this.#latest.set(`${r.kind}:${r.key}`, r);
    if (r.kind === 'bill' && r.state === 'paid') for (const id of r.receiptIds) this.#billOfReceipt.set(id, r);
  }
}
