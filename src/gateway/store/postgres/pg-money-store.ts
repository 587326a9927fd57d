// The money log's storage in PostgreSQL (table money_log): the MoneyStore port ReceiptLog reads back through, positions being row seqs.
import type { MoneyRecord } from '../../billing/money-record.js';
import type { AppendOptions, MoneyStore, RestoreCheckpoint } from '../../billing/money-store.js';
import { StoreError } from '../store.js';
import { insertRecords } from './pg-append-log.js';
import type { PgDatabase } from './pg-database.js';
import { MONEY_LOG } from './pg-logs.js';
import { CheckpointPartRows, readCheckpoint } from './pg-money-checkpoint.js';

/** Rows read per query while replaying the whole log at open (keyset pages by seq: bounded memory per query). */
const PAGE = 10_000;

/**
 * A record's position is its row's `seq`: it grows with every append, so a range of positions is a
 * range of the log. Receipts of a close retired as abandoned (a close cut short, then issued again)
 * are never replayed nor read back: they never counted. Appends are serialised, one fenced
 * transaction per call (ReceiptLog already hands over a whole batch), so positions follow call order.
 * The checkpoint (table money_checkpoint, format 2 bytes with its unchanging parts in
 * money_checkpoint_part: pg-money-checkpoint.ts) is written in the append's transaction; a deployment's
 * receipt positions are read back by index, so neither the log nor a per-receipt index is read at open.
 */
export class PgMoneyStore implements MoneyStore {
  readonly checkpointBytes = true;
  private writing: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly db: PgDatabase,
    private readonly parts: CheckpointPartRows,
  ) {}

  /**
   * With `restore`, hands it the checkpoint when its row is still in the log, unchanged and counted,
   * then replays only the records after it; otherwise (or if restore declines) every record that counts,
   * oldest first, with its position. Then answers the store.
   */
  static async open(db: PgDatabase, replay: (record: MoneyRecord, position: number) => void, restore?: RestoreCheckpoint): Promise<PgMoneyStore> {
    let after = '0';
    let verified: readonly string[] = [];
    if (restore) {
      const stored = await readCheckpoint(db);
      if (stored && restore(stored.checkpoint, Number(stored.seq), stored.read)) {
        after = stored.seq;
        // The decoder checked the digest over the body with these parts joined in: they need not be written again.
        verified = stored.parts;
      }
    }
    for (;;) {
      const rows = await db.query<{ seq: string; record: MoneyRecord }>('money_log.open', `SELECT seq, record FROM money_log WHERE seq > $1 AND NOT abandoned ORDER BY seq LIMIT ${PAGE}`, [after]);
      for (const r of rows) replay(r.record, Number(r.seq));
      if (rows.length < PAGE) return new PgMoneyStore(db, new CheckpointPartRows(verified));
      after = (rows[rows.length - 1] as { seq: string }).seq;
    }
  }

  /** `options.texts` are not needed here (a record is stored as jsonb); a checkpoint is written in the append's transaction. */
  append(records: readonly MoneyRecord[], options: AppendOptions = {}): Promise<number[]> {
    const { checkpoint } = options;
    if (this.closed) return Promise.reject(new StoreError('io', 'money_log: the log is closed'));
    if (records.length === 0) return Promise.resolve([]);
    const next = this.writing.then(async () => {
      let committed: (() => void) | undefined;
      const positions = await this.db.write('money_log.append', async (client) => {
        // One statement answers the positions (the insert's RETURNING), not a max(seq) before and a select after.
        const written = await insertRecords(client, MONEY_LOG, records);
        if (written.length !== records.length) throw new StoreError('io', `money_log.append: wrote ${records.length} record(s) but got ${written.length} position(s)`);
        if (checkpoint) committed = await this.parts.write(client, checkpoint);
        return written;
      });
      // Parts count as written only once their transaction committed.
      committed?.();
      return positions;
    });
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

  /** Committed receipts only: v1 ones, and v2 ones whose period has its tree head after them (not those of a close cut short). */
  async receiptPositions(deployment: string, upTo: number): Promise<number[]> {
    const rows = await this.db.query<{ seq: string }>(
      'money_log.positions',
      `SELECT m.seq FROM money_log m
        WHERE m.kind = 'receipt' AND NOT m.abandoned AND m.deployment = $1 AND m.seq <= $2
          AND (m.record->'receipt'->>'v' = '1'
               OR EXISTS (SELECT 1 FROM money_log h WHERE h.kind = 'tree_head' AND h.period_start_ms = m.period_start_ms AND h.seq > m.seq))
        ORDER BY m.seq`,
      [deployment, String(upTo)],
    );
    return rows.map((r) => Number(r.seq));
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
