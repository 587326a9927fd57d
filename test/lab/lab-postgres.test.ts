// `hypha lab up --store postgres`: the lab gateway's state lives on a real PostgreSQL server in the lab folder, survives a kill -9 of the gateway, and `lab down` stops the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_SKIP, startLab, waitFor } from '../helpers/lab.js';
import { sql } from '../helpers/pg-databases.js';

test('lab up --store postgres: a link is a row in PostgreSQL (no db.json), still there after the gateway is killed and started again; lab down stops the server', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t, { extra: ['--store', 'postgres'] });
  assert.equal(lab.state().store, 'postgres');
  const config = JSON.parse(readFileSync(join(lab.dir, 'gateway', 'config.json'), 'utf8')) as { store?: { kind: string; url: string } };
  assert.equal(config.store?.kind, 'postgres');
  const url = config.store?.url ?? '';

  const linked = await lab.lab('link', 'alice');
  assert.equal(linked.code, 0, linked.stderr);
  const alice = lab.actor('alice');
  assert.deepEqual((await sql<{ key: string }>(url, 'SELECT key FROM links')).map((r) => r.key), [alice.subnet]);
  assert.ok(!readdirSync(join(lab.dir, 'gateway', 'data')).includes('db.json'), 'nothing is kept in the embedded files');

  assert.equal((await lab.lab('stop', 'gateway', '--signal', 'KILL')).code, 0);
  assert.equal((await lab.lab('start', 'gateway')).code, 0);
  const whoami = await waitFor('the restarted gateway', async () => {
    const r = await lab.curl('alice', 'GET', '/v1/whoami');
    return r.status === 200 ? r : undefined;
  });
  assert.equal((whoami.json as { linked: boolean }).linked, true, 'the link survived kill -9: it was committed');

  const down = await lab.lab('down');
  assert.equal(down.code, 0, down.stderr);
  assert.equal(existsSync(join(lab.dir, 'postgres', 'data', 'postmaster.pid')), false, 'the server was stopped');
  assert.equal(existsSync(join(lab.dir, 'postgres', 'data', 'PG_VERSION')), true, 'its data stays for inspection');
});
