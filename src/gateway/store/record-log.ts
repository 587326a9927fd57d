// The append-only log port: what the money log, the timeline, the order archive and the ledger journal need of their storage.

/**
 * An append-only sequence of JSON records. `AppendLog` keeps it in a hash-chained file, `PgAppendLog`
 * in a PostgreSQL table; callers read the records given at open and append, never rewrite.
 */
export interface RecordLog<T> {
  /** Records in the log (appended so far, including those whose append is under way). */
  readonly count: number;
  /** Appends records in one durable step (one fsync or one transaction); resolves once they are stored. */
  append(...records: T[]): Promise<unknown>;
  /** Stops appending; records already acknowledged stay stored. */
  close(): void;
}

/** A log as found at open: the log, and the records the caller rebuilds its indexes from, oldest first. */
export interface LoadedLog<T> {
  readonly log: RecordLog<T>;
  readonly records: Iterable<T>;
}
