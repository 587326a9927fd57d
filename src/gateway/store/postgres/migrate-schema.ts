// Applies the numbered schema migrations at start, one transaction each, under an advisory lock shared by every gateway.
import type pg from 'pg';
import { StoreError } from '../store.js';
import { MIGRATIONS, type Migration } from './migrations/index.js';

/**
 * The advisory lock key that serialises migrations across gateways ("hypha" in ASCII): a second gateway
 * starting at the same time waits for the first to finish, then finds nothing left to apply.
 */
export const MIGRATION_LOCK_KEY = '448345565281';

/** What `migrateSchema` did. */
export interface MigrationResult {
  /** The schema version the database is at now. */
  readonly version: number;
  /** Versions applied by this call, oldest first. */
  readonly applied: readonly number[];
}

/**
 * Brings the database to the newest schema this code knows. Refuses (StoreError 'version') a database
 * whose schema is newer than that: this hypha would not know how to read or write it.
 */
export async function migrateSchema(client: pg.ClientBase, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  const newestKnown = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    const done = new Set(rows.map((r) => r.version));
    const newestDone = rows.reduce((max, r) => Math.max(max, r.version), 0);
    if (newestDone > newestKnown) {
      throw new StoreError('version', `the database schema is at version ${newestDone}, this hypha knows versions up to ${newestKnown}: run the newer hypha (or restore a backup taken before its upgrade)`);
    }
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new StoreError('io', `store.migrate: migration ${m.version} (${m.name}) failed and was rolled back: ${(err as Error).message}`);
      }
      applied.push(m.version);
    }
    return { version: Math.max(newestDone, ...applied), applied };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
  }
}
