// A real PostgreSQL server for one test file (Debian's postgresql, initdb in a scratch folder), stopped when the test ends.
import type { TestContext } from 'node:test';
import { chmodSync } from 'node:fs';
import { startPostgres, type PostgresServer } from '../../src/lab/postgres-server.js';
import { LAB_SKIP } from './lab.js';
import { scratchDir } from './paths.js';

/**
 * `skip` for every PostgreSQL test: the server runs as its own unprivileged account, which needs root to
 * switch to (the same rule as the lab, so `npm run test:unit` leaves these out and CI, as root, runs them).
 */
export const PG_SKIP: string | false = LAB_SKIP;

/** Starts a fresh server in a scratch folder; it is stopped and removed after the test (or suite) `t`. */
export async function startTestPostgres(t: Pick<TestContext, 'after'>): Promise<PostgresServer> {
  if (PG_SKIP !== false) throw new Error(`startTestPostgres: ${PG_SKIP} (declare the test with { skip: PG_SKIP })`);
  const { dir, remove } = scratchDir('hypha-pg-');
  // The server account must be able to enter the scratch folder to reach its data and socket folders.
  chmodSync(dir, 0o755);
  const server = await startPostgres({ dir });
  t.after(async () => {
    await server.stop();
    if (process.env.HYPHA_KEEP_PG !== '1') remove();
  });
  return server;
}
