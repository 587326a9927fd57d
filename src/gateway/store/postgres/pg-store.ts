// PgStore: the Store port on PostgreSQL, one table per record kind, loaded at open and written in fenced transactions.
import { StoreError, type Store, type Table } from '../store.js';
import { FencedError } from '../write-fence.js';
import type { AgentApproval, ChainState, DeploymentRecord, LinkRecord, OrderRecord } from '../records.js';
import type { PgDatabase } from './pg-database.js';

/** The state tables; each is `(key text PRIMARY KEY, value jsonb)` (migration 001). */
const TABLES = ['links', 'agents', 'orders', 'deployments', 'chains', 'meta'] as const;
type TableName = (typeof TABLES)[number];

/**
 * The state tables are bounded by the gateway's caps (links per agent, agent requests, unpaid orders,
 * live deployments), so they are read whole at open and served from memory, as the Store port asks.
 * Writes made in one tick go to the database in one transaction (the fence checked first), in order.
 *
 * A failed transaction rejects the promise of every put in it. Its keys stay marked, so the next write
 * carries their current value (memory is ahead of the database only until then, and the caller was
 * told). A FencedError is final: this gateway lost the lease, and every later write is refused.
 */
export class PgStore implements Store {
  readonly links: Table<LinkRecord>;
  readonly agents: Table<AgentApproval>;
  readonly orders: Table<OrderRecord>;
  readonly deployments: Table<DeploymentRecord>;
  readonly chains: Table<ChainState>;
  readonly meta: Table<unknown>;

  /** Keys changed in memory and not yet durable, by table. */
  private dirty = new Map<TableName, Set<string>>();
  private pending: Promise<void> | null = null;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  private fenced: FencedError | null = null;

  private constructor(
    private readonly db: PgDatabase,
    private readonly rows: Record<TableName, Map<string, unknown>>,
  ) {
    this.links = this.table<LinkRecord>('links');
    this.agents = this.table<AgentApproval>('agents');
    this.orders = this.table<OrderRecord>('orders');
    this.deployments = this.table<DeploymentRecord>('deployments');
    this.chains = this.table<ChainState>('chains');
    this.meta = this.table<unknown>('meta');
  }

  /** Reads every state table of an open (migrated) database. */
  static async open(db: PgDatabase): Promise<PgStore> {
    const rows = {} as Record<TableName, Map<string, unknown>>;
    for (const t of TABLES) {
      const found = await db.query<{ key: string; value: unknown }>(`store.open: ${t}`, `SELECT key, value FROM ${t}`);
      rows[t] = new Map(found.map((r) => [r.key, r.value]));
    }
    return new PgStore(db, rows);
  }

  flush(): Promise<void> {
    return this.pending ?? this.writing;
  }

  /** Waits for the writes under way; the database connection is closed by its owner. */
  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    this.closed = true;
  }

  private table<T>(name: TableName): Table<T> {
    const rows = this.rows[name] as Map<string, T>;
    return {
      get: (key) => rows.get(key),
      values: () => [...rows.values()],
      size: () => rows.size,
      put: (key, value) => {
        this.assertWritable();
        rows.set(key, JSON.parse(JSON.stringify(value)) as T);
        return this.schedule(name, key);
      },
      delete: (key) => {
        this.assertWritable();
        if (!rows.has(key)) return Promise.resolve(false);
        rows.delete(key);
        return this.schedule(name, key).then(() => true);
      },
    };
  }

  private assertWritable(): void {
    if (this.closed) throw new StoreError('io', 'store.write: the store is closed');
    if (this.fenced) throw this.fenced;
  }

  private schedule(table: TableName, key: string): Promise<void> {
    let keys = this.dirty.get(table);
    if (!keys) this.dirty.set(table, (keys = new Set()));
    keys.add(key);
    if (!this.pending) {
      this.pending = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.pending = null;
          // Writes go one after another, so a later value never lands before an earlier one.
          this.writing = this.writing.catch(() => undefined).then(() => this.writeDirty());
          this.writing.then(resolve, reject);
        });
      });
    }
    return this.pending;
  }

  /** Writes every marked key's current value (or its absence) in one transaction. */
  private async writeDirty(): Promise<void> {
    const batch = this.dirty;
    this.dirty = new Map();
    if (this.fenced) throw this.fenced;
    try {
      await this.db.write('store.write', async (client) => {
        for (const [table, keys] of batch) {
          const rows = this.rows[table];
          const present = [...keys].filter((k) => rows.has(k));
          const gone = [...keys].filter((k) => !rows.has(k));
          if (present.length > 0) {
            await client.query(
              `INSERT INTO ${table} (key, value) SELECT k, v::jsonb FROM unnest($1::text[], $2::text[]) AS x(k, v) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
              [present, present.map((k) => JSON.stringify(rows.get(k)))],
            );
          }
          if (gone.length > 0) await client.query(`DELETE FROM ${table} WHERE key = ANY($1::text[])`, [gone]);
        }
      });
    } catch (err) {
      if (err instanceof FencedError) this.fenced = err;
      // Keep the keys marked: the next transaction writes their current values.
      for (const [table, keys] of batch) {
        let now = this.dirty.get(table);
        if (!now) this.dirty.set(table, (now = new Set()));
        for (const k of keys) now.add(k);
      }
      throw err;
    }
  }
}
