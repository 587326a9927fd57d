// One real PostgreSQL server per test file, and a fresh empty database on it for each test.
import { after } from 'node:test';
import type { PostgresServer } from '../../src/lab/postgres-server.js';
import { PG_SKIP, startTestPostgres } from './postgres.js';
import { createDatabase, sql } from './pg-sql.js';

let server: Promise<PostgresServer> | null = null;
let next = 0;
const cleanups: Array<() => unknown> = [];

// Registered on the file's root when a test file imports this helper: the server outlives every test of the file.
after(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** The file's server, started on first use and stopped after the file's tests. */
export function sharedTestPostgres(): Promise<PostgresServer> {
  if (PG_SKIP !== false) return Promise.reject(new Error(`sharedTestPostgres: ${PG_SKIP}`));
  server ??= startTestPostgres({ after: (fn) => void cleanups.push(fn as () => unknown) });
  return server;
}

/** A new, empty database on the file's server; returns its URL. */
export async function freshDatabase(): Promise<string> {
  const s = await sharedTestPostgres();
  return createDatabase(s.url, `t${process.pid}_${next++}`);
}

/** Runs one query on its own connection (for tests that look at or tamper with the tables directly). */
export { sql };
