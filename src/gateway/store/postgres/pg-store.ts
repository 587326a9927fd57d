// PgStore: the Store port on PostgreSQL, one table per record kind, loaded at open and written in fenced transactions.
import { StoreError, type Store, type Table } from '../store.js';
import { TickBatch } from '../tick-batch.js';
import { FencedError } from '../write-fence.js';
import type { AgentApproval, CapacityRequestRecord, ChainState, DeploymentRecord, LinkRecord, OrderRecord } from '../records.js';
import type { PgDatabase } from './pg-database.js';

/** The state tables; each is `(key text PRIMARY KEY, value jsonb, seq)` (migrations 001, 003 and 004). */
const TABLES = ['links', 'agents', 'orders', 'deployments', 'chains', 'meta', 'requests'] as const;
type TableName = (typeof TABLES)[number];

/**
 * The state tables are bounded by the gateway's caps (links per agent, agent requests, unpaid orders,
 * live deployments), so they are read whole at open and served from memory, as the Store port asks.
 * Writes made in one tick go to the database in one transaction (the fence checked first), in order.
 * A row keeps the place it was added at (its `seq`), so a reopened store lists every table in the
 * order the running one did, as a lowdb file keeps its keys' order.
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
  readonly requests: Table<CapacityRequestRecord>;

  /** Keys changed in memory and not yet durable, by table. */
  private dirty = new Map<TableName, Set<string>>();
  /**
   * Keys added to a table's Map (new, or put again after a delete) and not yet durable, in the order
   * they were added: their rows are written anew, so each takes its place at the end, as in the Map.
   */
  private added = new Map<TableName, Set<string>>();
  /** Keys deleted from a table's Map and not yet durable: their row may still be there, so a fresh put replaces it. */
  private deleted = new Map<TableName, Set<string>>();
  private readonly batch = new TickBatch(() => this.writeDirty());
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
    this.requests = this.table<CapacityRequestRecord>('requests');
  }

  /** Reads every state table of an open (migrated) database. */
  static async open(db: PgDatabase): Promise<PgStore> {
    const rows = {} as Record<TableName, Map<string, unknown>>;
    for (const t of TABLES) {
      const found = await db.query<{ key: string; value: unknown }>(`store.open: ${t}`, `SELECT key, value FROM ${t} ORDER BY seq`);
      rows[t] = new Map(found.map((r) => [r.key, r.value]));
    }
    return new PgStore(db, rows);
  }

  flush(): Promise<void> {
    return this.batch.flush();
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
        if (!rows.has(key)) mark(this.added, name, key);
        rows.set(key, JSON.parse(JSON.stringify(value)) as T);
        return this.schedule(name, key);
      },
      delete: (key) => {
        this.assertWritable();
        if (!rows.has(key)) return Promise.resolve(false);
        rows.delete(key);
        this.added.get(name)?.delete(key);
        mark(this.deleted, name, key);
        return this.schedule(name, key).then(() => true);
      },
    };
  }

  private assertWritable(): void {
    if (this.closed) throw new StoreError('io', 'store.write: the store is closed');
    if (this.fenced) throw this.fenced;
  }

  private schedule(table: TableName, key: string): Promise<void> {
    mark(this.dirty, table, key);
    return this.batch.schedule();
  }

  /** Writes every marked key's current value (or its absence) in one transaction. */
  private async writeDirty(): Promise<void> {
    const batch = this.dirty;
    const added = this.added;
    const deleted = this.deleted;
    this.dirty = new Map();
    this.added = new Map();
    this.deleted = new Map();
    if (this.fenced) throw this.fenced;
    try {
      await this.db.write('store.write', async (client) => {
        for (const [table, keys] of batch) {
          const rows = this.rows[table];
          const fresh = [...(added.get(table) ?? [])].filter((k) => rows.has(k));
          const isFresh = new Set(fresh);
          const changed = [...keys].filter((k) => rows.has(k) && !isFresh.has(k));
          // A key deleted and put again in memory may still have its row: it is replaced, so it moves to the end.
          const wasDeleted = deleted.get(table);
          const gone = [...keys].filter((k) => !rows.has(k) || (isFresh.has(k) && wasDeleted?.has(k) === true));
          if (gone.length > 0) await client.query(`DELETE FROM ${table} WHERE key = ANY($1::text[])`, [gone]);
          for (const part of [fresh, changed]) {
            if (part.length === 0) continue;
            // WITH ORDINALITY and ORDER BY: new rows take their seq in the order they were added.
            await client.query(
              `INSERT INTO ${table} (key, value) SELECT k, v::jsonb FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(k, v, n) ORDER BY n ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
              [part, part.map((k) => JSON.stringify(rows.get(k)))],
            );
          }
        }
      });
    } catch (err) {
      if (err instanceof FencedError) this.fenced = err;
      // Keep the keys marked (and the added ones first, in their order): the next transaction writes their current values.
      for (const [table, keys] of batch) for (const k of keys) mark(this.dirty, table, k);
      const later = this.added;
      this.added = new Map();
      for (const source of [added, later]) for (const [table, keys] of source) for (const k of keys) mark(this.added, table, k);
      for (const [table, keys] of deleted) for (const k of keys) mark(this.deleted, table, k);
      throw err;
    }
  }
}

/** Adds `key` to the set of `table`, at the end (a key already there moves to the end). */
function mark(sets: Map<TableName, Set<string>>, table: TableName, key: string): void {
  let keys = sets.get(table);
  if (!keys) sets.set(table, (keys = new Set()));
  keys.delete(key);
  keys.add(key);
}
