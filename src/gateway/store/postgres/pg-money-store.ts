// The money log's storage in PostgreSQL (table money_log): the MoneyStore port ReceiptLog reads back through, positions being row seqs.
import type { MoneyRecord } from '../../billing/money-record.js';
import type { MoneyStore } from '../../billing/money-store.js';
import { StoreError } from '../store.js';
import { insertRecords } from './pg-append-log.js';
import type { PgDatabase } from './pg-database.js';
import { MONEY_LOG } from './pg-logs.js';

/** Rows read per query while replaying the whole log at open (keyset pages by seq: bounded memory per query). */
const PAGE = 10_000;

/**
 * A record's position is its row's `seq`: it grows with every append, so a range of positions is a
 * range of the log. Receipts of a close retired as abandoned (a close cut short, then issued again)
 * are never replayed nor read back: they never counted. Appends are serialised, one fenced
 * transaction per call (ReceiptLog already hands over a whole batch), so positions follow call order.
 */
export class PgMoneyStore implements MoneyStore {
  private writing: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly db: PgDatabase) {}

  /** Replays every record that counts, oldest first, with its position, then answers the store. */
  static async open(db: PgDatabase, replay: (record: MoneyRecord, position: number) => void): Promise<PgMoneyStore> {
    let after = '0';
    for (;;) {
      const rows = await db.query<{ seq: string; record: MoneyRecord }>('money_log.open', `SELECT seq, record FROM money_log WHERE seq > $1 AND NOT abandoned ORDER BY seq LIMIT ${PAGE}`, [after]);
      for (const r of rows) replay(r.record, Number(r.seq));
      if (rows.length < PAGE) return new PgMoneyStore(db);
      after = (rows[rows.length - 1] as { seq: string }).seq;
    }
  }

  append(records: readonly MoneyRecord[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new StoreError('io', 'money_log: the log is closed'));
    if (records.length === 0) return Promise.resolve([]);
    const next = this.writing.then(() =>
      this.db.write('money_log.append', async (client) => {
        // One statement answers the positions (the insert's RETURNING), not a max(seq) before and a select after.
        const positions = await insertRecords(client, MONEY_LOG, records);
        if (positions.length !== records.length) throw new StoreError('io', `money_log.append: wrote ${records.length} record(s) but got ${positions.length} position(s)`);
        return positions;
      }),
    );
    this.writing = next.catch(() => undefined);
    return next;
  }

  async read(positions: readonly number[]): Promise<MoneyRecord[]> {
    if (positions.length === 0) return [];
    // Answered for the positions asked now, whatever the caller's array holds once the query returns.
    const asked = positions.slice();
    const rows = await this.db.query<{ seq: string; record: MoneyRecord }>('money_log.read', 'SELECT seq, record FROM money_log WHERE seq = ANY($1::bigint[])', [asked.map(String)]);
    const bySeq = new Map(rows.map((r) => [Number(r.seq), r.record]));
    return asked.map((p) => {
      const record = bySeq.get(p);
      if (record === undefined) throw new StoreError('corrupt', `money_log: no record at position ${p}`);
      return record;
    });
  }

  async readRange(from: number, to: number): Promise<Array<{ readonly position: number; readonly record: MoneyRecord }>> {
    const rows = await this.db.query<{ seq: string; record: MoneyRecord }>('money_log.range', 'SELECT seq, record FROM money_log WHERE seq BETWEEN $1 AND $2 AND NOT abandoned ORDER BY seq', [String(from), String(to)]);
    return rows.map((r) => ({ position: Number(r.seq), record: r.record }));
  }

  /** Refuses new appends; one under way still commits (the database's close waits for it). */
  close(): void {
    this.closed = true;
  }
}
