// One PostgreSQL database for the gateway: the connection pool, the schema check at open, and fenced write transactions.
import pg from 'pg';
import { errorMessage } from '../../../identity/error-message.js';
import { StoreError } from '../store.js';
import { FencedError, type WriteFence } from '../write-fence.js';
import { migrateSchema, type MigrationResult } from './migrate-schema.js';
import { redactDatabaseUrl } from './redact-url.js';

/** How to reach the database. */
export interface PgDatabaseOptions {
  /** `postgres://…` (the password is never logged nor put in an error message). */
  readonly url: string;
  /** Checked in every write transaction, after BEGIN, on the same connection (the active lease). */
  readonly fence?: WriteFence<pg.PoolClient>;
  /** Names the connections (`pg_stat_activity.application_name`); a successor gateway ends a lapsed holder's by it. */
  readonly applicationName?: string;
  /** Connections in the pool (default 4: writes are serialised per table group, reads are few). */
  readonly poolSize?: number;
  /** Told about a connection that failed while idle (the server restarted or went away). */
  readonly onConnectionError?: (err: Error) => void;
}

/**
 * The pool every PostgreSQL part of the gateway shares. `write` runs one transaction with the fence
 * checked first; `close` waits for writes under way, then ends the pool.
 */
export class PgDatabase {
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly fence: WriteFence<pg.PoolClient> | undefined,
    /** The URL without its password, for messages. */
    readonly where: string,
    readonly schema: MigrationResult,
  ) {}

  /** Connects, applies pending migrations (or refuses a newer schema), and returns the open database. */
  static async open(options: PgDatabaseOptions): Promise<PgDatabase> {
    const where = redactDatabaseUrl(options.url);
    const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 4, connectionTimeoutMillis: 10_000, ...(options.applicationName !== undefined ? { application_name: options.applicationName } : {}) });
    // An idle connection dropped by the server must not crash the process: the next query reconnects.
    pool.on('error', (err) => options.onConnectionError?.(err));
    try {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw new StoreError('io', `store.open: cannot connect to ${where}: ${errorMessage(err)}`);
      }
      try {
        const schema = await migrateSchema(client);
        return new PgDatabase(pool, options.fence, where, schema);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  /** A read outside any transaction. */
  async query<R extends pg.QueryResultRow>(what: string, text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (err) {
      throw new StoreError('io', `${what}: ${errorMessage(err)}`);
    }
  }

  /**
   * Runs `body` in one transaction on one connection, the fence checked after BEGIN. Any failure rolls
   * back and rejects: a FencedError as it is (this gateway lost the lease), anything else as StoreError.
   */
  write<R>(what: string, body: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    if (this.closed) return Promise.reject(new StoreError('io', `${what}: the database connection is closed`));
    return this.track(this.transaction(what, body));
  }

  /** Makes `close` wait for `work` (a write, or a queue of writes not yet started). */
  track<R>(work: Promise<R>): Promise<R> {
    this.inFlight.add(work);
    const forget = (): void => void this.inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }

  /** Waits for the writes under way (and those they queue), then closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    this.closed = true;
    await this.pool.end();
  }

  private async transaction<R>(what: string, body: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw new StoreError('io', `${what}: the database (${this.where}) is unreachable: ${errorMessage(err)}`);
    }
    let broken = false;
    // A connection that breaks while checked out emits 'error' besides failing its query: unhandled, it would end the process.
    const onError = (): void => void (broken = true);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      if (this.fence) await this.fence.check(client);
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      if (err instanceof FencedError || err instanceof StoreError) throw err;
      throw new StoreError('io', `${what}: ${errorMessage(err)}`);
    } finally {
      // A connection that broke, or whose rollback failed, is discarded, not handed to the next write.
      client.off('error', onError);
      client.release(broken);
    }
  }
}
