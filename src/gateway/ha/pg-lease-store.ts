// The lease row in PostgreSQL, on the lease's own connection: one transaction per round (lock the row, decide, write).
import pg from 'pg';
import { errorMessage } from '../../identity/error-message.js';
import { decideLease, type LeaseClaim, type LeaseOutcome, type LeaseRow } from './lease-rules.js';
import { leaseApplicationName, storeApplicationName } from './holder-connections.js';
import { ACTIVE_LEASE, LEASE_TABLE_SQL } from './lease-schema.js';
import type { LeaseStore } from './lease-keeper.js';

/** Options of the lease's connection. */
export interface PgLeaseStoreOptions {
  /** `postgres://…`; never logged (it may carry a password). */
  readonly url: string;
  /** A round that takes longer fails (and is retried next round); past the ttl a round is of no use. */
  readonly timeoutMs: number;
  /**
   * How long a round waits for the lease row's lock (server side, below `timeoutMs`): writes hold it
   * FOR SHARE (src/gateway/ha/lease-fence.ts), so a round that cannot lock it looks why instead.
   */
  readonly lockTimeoutMs: number;
  /** This process's lease holder, naming the connection (`application_name`). */
  readonly holder: string;
}

/** The row as read, with the database's time. */
interface RowRead {
  holder: string;
  url: string;
  token: string;
  expires_ms: number;
  now_ms: number;
}

const SELECT_ROW = `SELECT holder, url, token, extract(epoch from expires_at) * 1000 AS expires_ms, extract(epoch from clock_timestamp()) * 1000 AS now_ms FROM hypha_lease WHERE name = $1`;

/** PostgreSQL's lock_not_available: `lock_timeout` ran out. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * One dedicated connection (not the store's pool: a busy pool must not starve the renewal), opened
 * lazily and dropped on any error so the next round reconnects. Times are the database's
 * (`clock_timestamp()`), so gateways with skewed clocks agree on who holds the lease.
 */
export class PgLeaseStore implements LeaseStore {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;

  constructor(private readonly options: PgLeaseStoreOptions) {}

  /** Connects now when there is no connection (a failed connect is thrown; the next round tries again). */
  async ready(): Promise<void> {
    await this.connect();
  }

  async round(me: LeaseClaim, ttlMs: number): Promise<LeaseOutcome> {
    return this.withClient(async (c) => {
      await c.query('BEGIN');
      try {
        await c.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(this.options.lockTimeoutMs))}`);
        await c.query(`INSERT INTO hypha_lease (name, holder, url, token, expires_at, renewed_at) VALUES ($1, '', '', 0, 'epoch', 'epoch') ON CONFLICT (name) DO NOTHING`, [ACTIVE_LEASE]);
        const { rows } = await c.query<RowRead>(`${SELECT_ROW} FOR UPDATE`, [ACTIVE_LEASE]);
        const row = rows[0];
        if (row === undefined) throw new Error('lease.round: the lease row vanished');
        const outcome = decideLease(rowOf(row), me, Number(row.now_ms), ttlMs);
        if (outcome.kind !== 'waited') {
          const next = outcome.row;
          await c.query(`UPDATE hypha_lease SET holder = $2, url = $3, token = $4, expires_at = to_timestamp($5::float8 / 1000), renewed_at = clock_timestamp() WHERE name = $1`, [
            ACTIVE_LEASE,
            next.holder,
            next.url,
            next.token,
            next.expiresAtMs,
          ]);
        }
        await c.query('COMMIT');
        return outcome;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        if ((err as { code?: unknown }).code === LOCK_NOT_AVAILABLE) return this.roundWhileLocked(c, me);
        throw err;
      }
    });
  }

  /**
   * The row stayed locked for `lockTimeoutMs`: the holder's write transactions (or its own round) hold
   * it. While the lease is live that is normal, and this round waits. Once it has lapsed, the holder is
   * paused mid-transaction (SIGSTOP, a long GC) or dead without the database noticing yet, and would
   * block every takeover until it wakes: its connections are ended, which rolls back what it had not
   * committed (nothing it committed holds a lock), and the next round takes the lease.
   */
  private async roundWhileLocked(c: pg.Client, me: LeaseClaim): Promise<LeaseOutcome> {
    const { rows } = await c.query<RowRead>(SELECT_ROW, [ACTIVE_LEASE]);
    const row = rows[0];
    if (row === undefined) throw new Error('lease.round: the lease row vanished');
    // Our own writes hold it: a failed round (the watchdog decides), never "another gateway holds it".
    if (row.holder === me.holder) throw new Error('lease.round: the lease row stayed locked by this gateway\'s own writes');
    const current = rowOf(row);
    if (row.holder !== '' && current.expiresAtMs <= Number(row.now_ms)) {
      try {
        await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name IN ($1, $2) AND pid <> pg_backend_pid()`, [
          storeApplicationName(row.holder),
          leaseApplicationName(row.holder),
        ]);
      } catch (err) {
        throw new Error(`lease.round: the lapsed holder's connections hold the lease row and could not be ended: ${errorMessage(err)}`);
      }
    }
    return { kind: 'waited', row: current };
  }

  async release(me: LeaseClaim, token: number): Promise<void> {
    await this.withClient((c) => c.query(`UPDATE hypha_lease SET expires_at = clock_timestamp() WHERE name = $1 AND holder = $2 AND token = $3`, [ACTIVE_LEASE, me.holder, token]));
  }

  async close(): Promise<void> {
    const c = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    this.connecting = undefined;
    await c?.end().catch(() => undefined);
  }

  private async withClient<T>(use: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = await this.connect();
    try {
      return await use(c);
    } catch (err) {
      // A failed connection is not reused: the next round opens a fresh one.
      if (this.client === c) this.client = undefined;
      void c.end().catch(() => undefined);
      throw err;
    }
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const c = new pg.Client({ connectionString: this.options.url, connectionTimeoutMillis: this.options.timeoutMs, query_timeout: this.options.timeoutMs, application_name: leaseApplicationName(this.options.holder) });
      // An error between queries (the server went away) is seen by the next query; without a listener it would crash the process.
      c.on('error', () => {
        if (this.client === c) this.client = undefined;
      });
      try {
        await c.connect();
        await c.query(LEASE_TABLE_SQL);
      } catch (err) {
        void c.end().catch(() => undefined);
        throw err;
      }
      this.client = c;
      return c;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }
}

/** The row as the rules see it (a never-held row has no holder and lapsed long ago). */
function rowOf(row: RowRead): LeaseRow {
  return row.holder === '' ? { holder: '', url: '', token: Number(row.token), expiresAtMs: 0 } : { holder: row.holder, url: row.url, token: Number(row.token), expiresAtMs: Number(row.expires_ms) };
}
