// The PostgreSQL harness starts a real server that answers on its Unix socket only, keeps data across a restart, and stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres } from '../../src/lab/postgres-server.js';
import { PG_SKIP, startTestPostgres } from '../helpers/postgres.js';

test('a real server: data committed before a stop is there after a restart; the socket folder is private', { skip: PG_SKIP }, async (t) => {
  const server = await startTestPostgres(t);
  assert.match(server.url, /^postgresql:\/\/hypha@\/hypha\?host=/);
  assert.equal(statSync(server.socketDir).mode & 0o777, 0o700, 'only the server account (and root) may reach the socket');
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  await client.query('CREATE TABLE t (v bigint PRIMARY KEY)');
  await client.query('INSERT INTO t VALUES (42)');
  await client.end();
  await server.stop();
  assert.equal(existsSync(join(server.socketDir, `.s.PGSQL.${server.port}`)), false, 'the socket is gone once stopped');

  const again = await startPostgres({ dir: join(server.dataDir, '..') });
  t.after(() => again.stop());
  const c2 = new pg.Client({ connectionString: again.url });
  await c2.connect();
  const { rows } = await c2.query<{ v: string }>('SELECT v FROM t');
  await c2.end();
  assert.deepEqual(rows.map((r) => r.v), ['42']);
});
