// Where the money log's records live: the port ReceiptLog reads and appends through, and its file adapter (receipts.log).
import { AppendLog } from '../store/append-log.js';
import type { MoneyRecord } from './money-record.js';

/**
 * The storage of the money log, as small as ReceiptLog needs: append records durably, read back
 * the ones it no longer keeps in memory by position, or a range of them. A position is whatever
 * the store answers for a record (a byte offset in a file, a row id in a database); positions
 * grow with every append, so a range in position order is a range in log order.
 */
export interface MoneyStore {
  /**
   * Appends records in order, durably; answers each one's position. `texts`, when given, are the
   * records' JSON texts already written by the caller (the file store writes them as they are; a
   * store that keeps records otherwise may ignore them).
   */
  append(records: readonly MoneyRecord[], texts?: readonly string[]): Promise<number[]>;
  /** The records at these positions, in the order asked. */
  read(positions: readonly number[]): Promise<MoneyRecord[]>;
  /** Every record whose position lies within [from, to], in log order, with its position. */
  readRange(from: number, to: number): Promise<Array<{ readonly position: number; readonly record: MoneyRecord }>>;
  close(): void;
}

/** The money log in one append-only, hash-chained, fsynced file; positions are byte offsets of lines. */
export class FileMoneyStore implements MoneyStore {
  private constructor(private readonly log: AppendLog<MoneyRecord>) {}

  /**
   * Opens (or creates) the file and hands every record, oldest first, to `replay` with its
   * position; the records are not kept. `tornBytes`: an unfinished last line moved aside.
   */
  static open(path: string, replay: (record: MoneyRecord, position: number) => void): { store: FileMoneyStore; tornBytes: number } {
    const { log, tornBytes } = AppendLog.open<MoneyRecord>(path, { visit: replay });
    return { store: new FileMoneyStore(log), tornBytes };
  }

  append(records: readonly MoneyRecord[], texts?: readonly string[]): Promise<number[]> {
    if (texts === undefined) return this.log.append(...records);
    if (texts.length !== records.length) return Promise.reject(new RangeError(`FileMoneyStore.append: ${records.length} record(s) but ${texts.length} text(s)`));
    return this.log.appendTexts(texts);
  }

  // The file is read synchronously (as it is written); async only because the port is.
  // eslint-disable-next-line @typescript-eslint/require-await
  async read(positions: readonly number[]): Promise<MoneyRecord[]> {
    return this.log.readAt(positions);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async readRange(from: number, to: number): Promise<Array<{ readonly position: number; readonly record: MoneyRecord }>> {
    const out: Array<{ position: number; record: MoneyRecord }> = [];
    this.log.readRange(from, to, (record, position) => out.push({ position, record }));
    return out;
  }

  close(): void {
    this.log.close();
  }
}
