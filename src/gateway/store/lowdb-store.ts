// LowdbStore: the embedded Store adapter, one JSON file under the data folder, written by lowdb through SecureJsonFile.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { SecureJsonFile } from './secure-json-file.js';
import { TickBatch } from './tick-batch.js';
import { StoreError, type Store, type Table } from './store.js';
import type { AgentApproval, CapacityRequestRecord, ChainState, DeploymentRecord, LinkRecord, OrderRecord } from './records.js';

/** The schema version this code reads and writes. */
export const STORE_VERSION = 1;

interface Data {
  version: number;
  links: Record<string, LinkRecord>;
  agents: Record<string, AgentApproval>;
  orders: Record<string, OrderRecord>;
  deployments: Record<string, DeploymentRecord>;
  chains: Record<string, ChainState>;
  meta: Record<string, unknown>;
  requests: Record<string, CapacityRequestRecord>;
}

const TABLES = ['links', 'agents', 'orders', 'deployments', 'chains', 'meta', 'requests'] as const;

/** Tables added after version 1 was written: a file without one gets it empty (nothing was lost: it was never kept). */
const ADDED_TABLES: ReadonlySet<(typeof TABLES)[number]> = new Set(['requests']);

/**
 * The embedded store. lowdb rewrites the whole file on every write (about 190 ms once it is
 * large), so only low-rate state lives here; receipts and events go to append-only logs.
 * Writes made in the same tick are coalesced into one atomic, fsynced write.
 */
export class LowdbStore implements Store {
  readonly links: Table<LinkRecord>;
  readonly agents: Table<AgentApproval>;
  readonly orders: Table<OrderRecord>;
  readonly deployments: Table<DeploymentRecord>;
  readonly chains: Table<ChainState>;
  readonly meta: Table<unknown>;
  readonly requests: Table<CapacityRequestRecord>;

  /** Each write rewrites the whole file from the current data, so a failed one is made good by the next. */
  private readonly batch = new TickBatch(() => this.writeNow());
  private closed = false;

  private constructor(private readonly db: Low<Data>) {
    this.links = this.table('links');
    this.agents = this.table('agents');
    this.orders = this.table('orders');
    this.deployments = this.table('deployments');
    this.chains = this.table('chains');
    this.meta = this.table('meta');
    this.requests = this.table('requests');
  }

  /** Opens (or creates) `dir/db.json`; StoreError if it is damaged or of another version. */
  static async open(dir: string): Promise<LowdbStore> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, 'db.json');
    const db = new Low<Data>(new SecureJsonFile<Data>(path), emptyData());
    await db.read();
    const data = db.data as Partial<Data> | null;
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw new StoreError('corrupt', `${path} does not hold a hypha store (not a JSON object); restore it from a backup or move it away`);
    }
    if (data.version !== STORE_VERSION) {
      throw new StoreError('version', `${path} has store version ${String(data.version)}, this hypha reads version ${STORE_VERSION}`);
    }
    for (const t of TABLES) {
      if (data[t] === undefined && ADDED_TABLES.has(t)) data[t] = {};
      const table = data[t];
      if (table === null || typeof table !== 'object' || Array.isArray(table)) {
        throw new StoreError('corrupt', `${path}: "${t}" is missing or not an object; restore the file from a backup`);
      }
    }
    // Tables keyed by caller-chosen text must not be ordinary objects: a key "__proto__" would
    // replace the table's prototype and "constructor" would read Object's. Each table is copied
    // into an object without a prototype (JSON.parse made "__proto__" an own property, kept here).
    for (const t of TABLES) data[t] = rowsWithoutPrototype(data[t] as Record<string, never>);
    const store = new LowdbStore(db);
    await store.writeNow();
    return store;
  }

  flush(): Promise<void> {
    return this.batch.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private table<K extends (typeof TABLES)[number]>(name: K): Table<Data[K][string]> {
    const rows = (): Record<string, Data[K][string]> => this.db.data[name] as Record<string, Data[K][string]>;
    return {
      get: (key) => (Object.hasOwn(rows(), key) ? rows()[key] : undefined),
      values: () => Object.values(rows()),
      size: () => Object.keys(rows()).length,
      put: (key, value) => {
        this.assertOpen();
        rows()[key] = JSON.parse(JSON.stringify(value)) as Data[K][string];
        return this.batch.schedule();
      },
      delete: (key) => {
        this.assertOpen();
        if (!Object.hasOwn(rows(), key)) return Promise.resolve(false);
        delete rows()[key];
        return this.batch.schedule().then(() => true);
      },
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('io', 'store.write: the store is closed');
  }

  private writeNow(): Promise<void> {
    return this.db.write();
  }
}

function emptyData(): Data {
  return { version: STORE_VERSION, links: rowsWithoutPrototype({}), agents: rowsWithoutPrototype({}), orders: rowsWithoutPrototype({}), deployments: rowsWithoutPrototype({}), chains: rowsWithoutPrototype({}), meta: rowsWithoutPrototype({}), requests: rowsWithoutPrototype({}) };
}

/** A copy of `rows` with no prototype, so any string is an ordinary key. */
function rowsWithoutPrototype<T>(rows: Record<string, T>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const key of Object.keys(rows)) Object.defineProperty(out, key, { value: rows[key], writable: true, enumerable: true, configurable: true });
  return out;
}
