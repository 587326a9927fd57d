// FakeMoneyStore: the MoneyStore port in an array (positions are indexes), shaped from FileMoneyStore (src/gateway/billing/money-store.ts), for unit tests of ReceiptLog over a store that is not a file.
import type { MoneyRecord } from '../../src/gateway/billing/money-record.js';
import type { MoneyStore } from '../../src/gateway/billing/money-store.js';

/** Records kept as JSON text, so a record read back is a copy, as it is from a file or a database. */
export class FakeMoneyStore implements MoneyStore {
  readonly rows: string[] = [];
  reads = 0;

  /** Replays every record with its position, then answers the store (ReceiptLog.over's `openStore`). */
  opener(): (replay: (record: MoneyRecord, position: number) => void) => Promise<MoneyStore> {
    return (replay) => {
      this.rows.forEach((text, i) => replay(JSON.parse(text) as MoneyRecord, i));
      return Promise.resolve(this);
    };
  }

  append(records: readonly MoneyRecord[]): Promise<number[]> {
    return Promise.resolve(records.map((r) => this.rows.push(JSON.stringify(r)) - 1));
  }

  read(positions: readonly number[]): Promise<MoneyRecord[]> {
    this.reads += positions.length;
    return Promise.resolve(positions.map((p) => JSON.parse(this.rows[p] as string) as MoneyRecord));
  }

  readRange(from: number, to: number): Promise<Array<{ position: number; record: MoneyRecord }>> {
    const out: Array<{ position: number; record: MoneyRecord }> = [];
    for (let p = from; p <= to && p < this.rows.length; p++) out.push({ position: p, record: JSON.parse(this.rows[p] as string) as MoneyRecord });
    return Promise.resolve(out);
  }

  close(): void {}
}
