// Two gateways' leases competing on a real PostgreSQL server: one active, a takeover after the holder stops, and the paused holder's fence refusing its write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { LeaseKeeper } from '../../../src/gateway/ha/lease-keeper.js';
import { LeaseFence } from '../../../src/gateway/ha/lease-fence.js';
import { PgLeaseStore } from '../../../src/gateway/ha/pg-lease-store.js';
import { storeApplicationName } from '../../../src/gateway/ha/holder-connections.js';
import { FencedError } from '../../../src/gateway/store/write-fence.js';
import { SystemClock } from '../../../src/protocol/clock.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { PG_SKIP, startTestPostgres } from '../../helpers/postgres.js';
import { waitFor } from '../../helpers/lab.js';

const TTL_MS = 900;

/** One fenced write, the way the PostgreSQL store makes each: check the fence, write, commit (or roll back). */
async function fencedInsert(pool: pg.Pool, fence: LeaseFence, value: string): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await fence.check(c);
    await c.query('INSERT INTO writes (v) VALUES ($1)', [value]);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  } finally {
    c.release();
  }
}

test('real PostgreSQL: one active lease; the standby takes over when the holder pauses; the paused holder is fenced when it wakes', { skip: PG_SKIP }, async (t) => {
  const server = await startTestPostgres(t);
  const pool = new pg.Pool({ connectionString: server.url, max: 4 });
  // The server stops when the test ends (its after hook): idle pooled connections are then cut, which is expected.
  pool.on('error', () => undefined);
  await pool.query('CREATE TABLE writes (v text PRIMARY KEY)');

  // a's clock is frozen: a paused process (SIGSTOP) whose own view of time did not move while the database's did.
  const frozen = new FakeClock(Date.now());
  const a = new LeaseKeeper({ store: new PgLeaseStore({ url: server.url, timeoutMs: 300, lockTimeoutMs: 100, holder: 'a#1' }), claim: { holder: 'a#1', url: 'http://[400::a]:8080' }, ttlMs: TTL_MS, clock: frozen });
  const b = new LeaseKeeper({ store: new PgLeaseStore({ url: server.url, timeoutMs: 300, lockTimeoutMs: 100, holder: 'b#1' }), claim: { holder: 'b#1', url: 'http://[400::b]:8080' }, ttlMs: TTL_MS, clock: new SystemClock() });
  t.after(() => Promise.all([a.close(), b.close(), pool.end()]));
  const fenceA = new LeaseFence(a);
  const fenceB = new LeaseFence(b);

  await a.round();
  await b.start();
  assert.equal(a.role(), 'active');
  assert.equal(b.role(), 'standby');
  assert.equal(b.activeUrl(), 'http://[400::a]:8080', 'the standby knows the active URL from the lease row');
  await fencedInsert(pool, fenceA, 'a-before');
  await assert.rejects(fencedInsert(pool, fenceB, 'b-as-standby'), FencedError, 'a standby writes nothing');

  // a stops renewing; b's own rounds take the lease over once the row expires on the database's clock.
  await waitFor('b to take over', () => (b.role() === 'active' ? true : undefined), 10_000);
  assert.equal(b.writeToken()?.token, 2, 'the takeover raised the token');
  assert.equal(a.role(), 'active', 'a, paused, still believes it is active');
  await assert.rejects(fencedInsert(pool, fenceA, 'a-after-wake'), FencedError, 'the woken holder is fenced by the database');
  assert.equal(a.role(), 'standby', 'and the fence stepped it down');
  await fencedInsert(pool, fenceB, 'b-active');
  const { rows } = await pool.query<{ v: string }>('SELECT v FROM writes ORDER BY v');
  assert.deepEqual(rows.map((r) => r.v), ['a-before', 'b-active']);

  const { rows: lease } = await pool.query<{ holder: string; token: string }>("SELECT holder, token FROM hypha_lease WHERE name = 'active'");
  assert.deepEqual(lease, [{ holder: 'b#1', token: '2' }]);
});

test('real PostgreSQL: a gateway that lost the lease and took it again writes only under its new term; an old term\'s late write is refused, over what the other gateway wrote in between', { skip: PG_SKIP }, async (t) => {
  const server = await startTestPostgres(t);
  const pool = new pg.Pool({ connectionString: server.url, max: 4 });
  pool.on('error', () => undefined);
  await pool.query('CREATE TABLE writes (v text PRIMARY KEY)');
  const a = new LeaseKeeper({ store: new PgLeaseStore({ url: server.url, timeoutMs: 300, lockTimeoutMs: 100, holder: 'a#1' }), claim: { holder: 'a#1', url: 'http://[400::a]:8080' }, ttlMs: TTL_MS, clock: new SystemClock() });
  const b = new LeaseKeeper({ store: new PgLeaseStore({ url: server.url, timeoutMs: 300, lockTimeoutMs: 100, holder: 'b#1' }), claim: { holder: 'b#1', url: 'http://[400::b]:8080' }, ttlMs: TTL_MS, clock: new SystemClock() });
  t.after(() => Promise.all([a.close(), b.close(), pool.end()]));
  const aFence = new LeaseFence(a);

  await a.round();
  assert.equal(a.term(), 1);
  // Term 1's store, as src/gateway/gateway.ts opens it; its parts are slow to stop when the term ends.
  const term1 = aFence.forTerm(1);
  await fencedInsert(pool, term1, 'a-term-1');
  await a.resign('test: a gives the lease up', 1);
  await b.round();
  assert.equal(b.term(), 2);
  await fencedInsert(pool, new LeaseFence(b).forTerm(2), 'b-term-2');
  await b.resign('test: b gives it back', 2);
  // a sits out one ttl after its resignation, then takes the lease again: term 3.
  await waitFor('a to take the lease again', async () => {
    await a.round();
    return a.term() === 3 ? true : undefined;
  }, 10_000, 100);

  await assert.rejects(fencedInsert(pool, term1, 'a-term-1-late'), (err: unknown) => err instanceof FencedError && /term 1, which ended/.test(err.message), "term 1's late write is refused");
  assert.equal(a.role(), 'active', 'and it does not end term 3');
  await fencedInsert(pool, aFence.forTerm(3), 'a-term-3');
  const { rows } = await pool.query<{ v: string }>('SELECT v FROM writes ORDER BY v');
  assert.deepEqual(rows.map((r) => r.v), ['a-term-1', 'a-term-3', 'b-term-2']);
});

test('real PostgreSQL: a holder paused in the middle of a write (its transaction open, the lease row locked) does not block the takeover; its write rolls back', { skip: PG_SKIP }, async (t) => {
  const server = await startTestPostgres(t);
  const setup = new pg.Client({ connectionString: server.url });
  await setup.connect();
  await setup.query('CREATE TABLE writes (v text PRIMARY KEY)');
  await setup.end();
  // a's store connection, named as a gateway names its pool's (src/gateway/ha/holder-connections.ts).
  const aStore = new pg.Client({ connectionString: server.url, application_name: storeApplicationName('a#1') });
  // b's round ends this connection: its error is expected.
  aStore.on('error', () => undefined);
  await aStore.connect();
  const frozen = new FakeClock(Date.now());
  const a = new LeaseKeeper({ store: new PgLeaseStore({ url: server.url, timeoutMs: 300, lockTimeoutMs: 100, holder: 'a#1' }), claim: { holder: 'a#1', url: 'http://a' }, ttlMs: TTL_MS, clock: frozen });
  const b = new LeaseKeeper({ store: new PgLeaseStore({ url: server.url, timeoutMs: 300, lockTimeoutMs: 100, holder: 'b#1' }), claim: { holder: 'b#1', url: 'http://b' }, ttlMs: TTL_MS, clock: new SystemClock() });
  t.after(async () => {
    await Promise.all([a.close(), b.close()]);
    await aStore.end().catch(() => undefined);
  });
  await a.round();
  assert.equal(a.role(), 'active');
  // a begins a write: the fence locks the lease row FOR SHARE; then a "pauses" (nothing more is sent).
  await aStore.query('BEGIN');
  await new LeaseFence(a).check(aStore);
  await aStore.query("INSERT INTO writes (v) VALUES ('a-paused')");
  await b.start();
  // Before, b's rounds waited on the row lock until a woke (never, here): b never took over.
  await waitFor('b to take over although a still holds the row lock', () => (b.role() === 'active' ? true : undefined), 10_000);
  assert.equal(b.writeToken()?.token, 2);
  // a "wakes": its commit fails (its connection was ended), and nothing it wrote is there.
  await assert.rejects(aStore.query('COMMIT'));
  const check = new pg.Client({ connectionString: server.url });
  await check.connect();
  const { rows } = await check.query('SELECT v FROM writes');
  await check.end();
  assert.deepEqual(rows, [], 'the paused write rolled back');
});

test('real PostgreSQL: a clean close hands the lease over at once; a server stopped mid-run is an outage the holder steps down from, and recovers after', { skip: PG_SKIP }, async (t) => {
  const server = await startTestPostgres(t);
  const a = new LeaseKeeper({ store: new PgLeaseStore({ url: server.url, timeoutMs: 300, lockTimeoutMs: 100, holder: 'a#1' }), claim: { holder: 'a#1', url: 'http://a' }, ttlMs: 60_000, clock: new SystemClock() });
  const b = new LeaseKeeper({ store: new PgLeaseStore({ url: server.url, timeoutMs: 300, lockTimeoutMs: 100, holder: 'b#1' }), claim: { holder: 'b#1', url: 'http://b' }, ttlMs: TTL_MS, clock: new SystemClock() });
  t.after(() => b.close());
  await a.round();
  await b.round();
  assert.equal(b.role(), 'standby');
  await a.close();
  await b.round();
  assert.equal(b.role(), 'active', 'released: no wait for the 60 s ttl');

  const outages: string[] = [];
  b.signals.on('outage', (m) => outages.push(m));
  await server.stop();
  await b.round();
  assert.ok(outages.length >= 1 && /did not answer/.test(outages[0] ?? ''), 'the outage is reported');
  await waitFor('b to step down on its own clock', async () => {
    await b.round();
    return b.role() === 'standby' ? true : undefined;
  }, 10_000);
  const { startPostgres } = await import('../../../src/lab/postgres-server.js');
  const again = await startPostgres({ dir: `${server.dataDir}/..` });
  t.after(() => again.stop());
  await waitFor('b to be active again', async () => {
    await b.round();
    return b.role() === 'active' ? true : undefined;
  }, 10_000);
  assert.equal(b.outage(), null);
  assert.equal(b.writeToken()?.token, 3, 'back under a new token: the lapse may have let someone else write');
});
