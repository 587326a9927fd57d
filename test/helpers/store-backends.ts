// The two places a Store can live (the embedded files, a real PostgreSQL database), for tests that run once on each.
import { LowdbStore } from '../../src/gateway/store/lowdb-store.js';
import { PgDatabase } from '../../src/gateway/store/postgres/pg-database.js';
import { PgStore } from '../../src/gateway/store/postgres/pg-store.js';
import type { Store } from '../../src/gateway/store/store.js';
import { scratchDir } from './paths.js';
import { PG_SKIP } from './postgres.js';
import { freshDatabase } from './pg-databases.js';

/** One store opened on a place; `close` also closes what the store was opened over (the database pool). */
export interface OpenedStore {
  readonly store: Store;
  close: () => Promise<void>;
}

/** A new empty place a store lives: `open` opens a store on it (again after a close, as a restart does), `remove` cleans up after the test. */
export interface StorePlace {
  open: () => Promise<OpenedStore>;
  remove: () => void;
}

/** A backend a test runs on: its name for the test title, the `skip` to pass to `test`, and how to make a fresh place. */
export interface Backend {
  readonly name: string;
  readonly skip: string | false;
  create: () => Promise<StorePlace>;
}

/** The embedded store in a scratch folder, and PgStore on a fresh database of the file's PostgreSQL server (skipped where that needs root). */
export const BACKENDS: readonly Backend[] = [
  {
    name: 'LowdbStore',
    skip: false,
    create: () => {
      const { dir, remove } = scratchDir();
      return Promise.resolve({
        open: async () => {
          const store = await LowdbStore.open(dir);
          return { store, close: () => store.close() };
        },
        remove,
      });
    },
  },
  {
    name: 'PgStore',
    skip: PG_SKIP,
    create: async () => {
      const url = await freshDatabase();
      return {
        open: async () => {
          const db = await PgDatabase.open({ url });
          const store = await PgStore.open(db);
          return { store, close: async () => (await store.close(), await db.close()) };
        },
        remove: () => undefined,
      };
    },
  },
];
