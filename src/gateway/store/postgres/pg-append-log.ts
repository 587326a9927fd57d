// PgAppendLog: an append-only log in a PostgreSQL table; records appended in one tick share one fenced transaction.
import type pg from 'pg';
import { StoreError } from '../store.js';
import type { RecordLog } from '../record-log.js';
import type { PgDatabase } from './pg-database.js';

/** Which table a log lives in, and the indexed columns each row derives from its record (`r`, jsonb). */
export interface PgLogTable<T> {
  readonly table: string;
  /** Column names besides `record`, in order. */
  readonly columns: readonly string[];
  /** SQL expressions over the record `r` (jsonb), one per column. */
  readonly expressions: readonly string[];
  /** Runs in the same transaction before the insert (e.g. to retire rows the new ones replace). */
  readonly before?: (client: pg.ClientBase, records: readonly T[]) => Promise<void>;
}

/**
 * The table's `seq` (an identity column) orders the records; a batch is inserted in one statement from
 * one jsonb array, in array order, so a crash leaves all of a batch or none of it (no torn line).
 * Appends are serialised: batch n+1 starts once batch n committed.
 */
export class PgAppendLog<T> implements RecordLog<T> {
  private queue: { record: T; resolve: () => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly db: PgDatabase,
    private readonly spec: PgLogTable<T>,
    private stored: number,
  ) {}

  get count(): number {
    return this.stored + this.queue.length;
  }

  append(...records: T[]): Promise<void> {
    if (this.closed) return Promise.reject(new StoreError('io', `${this.spec.table}: the log is closed`));
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      records.forEach((record, i) => this.queue.push({ record, resolve: i === records.length - 1 ? resolve : noop, reject }));
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flushQueue());
      }
    });
  }

  /** Refuses new appends; those queued are still written (the database's close waits for them). */
  close(): void {
    this.flushQueue();
    this.closed = true;
  }

  /** Resolves once every append made so far has committed or failed. */
  flush(): Promise<void> {
    return this.writing;
  }

  private flushQueue(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    this.writing = this.writing.then(async () => {
      try {
        await this.insert(batch.map((b) => b.record));
        this.stored += batch.length;
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err as Error);
      }
    });
    void this.db.track(this.writing);
  }

  private insert(records: T[]): Promise<void> {
    return this.db.write(`${this.spec.table}.append`, async (client) => void (await insertRecords(client, this.spec, records)));
  }
}

/** Inserts records into a log table in array order, on a connection inside a transaction (the spec's `before` first). */
export async function insertRecords<T>(client: pg.ClientBase, spec: PgLogTable<T>, records: readonly T[]): Promise<number[]> {
  const { table, columns, expressions, before } = spec;
  if (before) await before(client, records);
  const text = `INSERT INTO ${table} (${[...columns, 'record'].join(', ')}) SELECT ${[...expressions, 'r'].join(', ')} FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(r, i) ORDER BY i RETURNING seq`;
  const rows = (await client.query<{ seq: string }>(text, [JSON.stringify(records)])).rows;
  // RETURNING's order is not promised, but identity values are handed out as the rows are inserted
  // (in array order, by the ORDER BY): sorted, the seqs are the records' in array order.
  return rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
}

function noop(): void {}
