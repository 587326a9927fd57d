// The lease kept by a worker thread, on a real PostgreSQL server against a standby in another process: a busy main thread keeps it, a hung one loses it, and a dead worker makes the gateway stand down.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import pg from 'pg';
import { pino } from 'pino';
import { createLease, type GatewayLease } from '../../../src/gateway/ha/create-lease.js';
import { leaseTtlMs } from '../../../src/gateway/ha/lease-rules.js';
import { FencedError } from '../../../src/gateway/store/write-fence.js';
import { PG_SKIP, startTestPostgres } from '../../helpers/postgres.js';
import { sql } from '../../helpers/pg-databases.js';
import { waitFor } from '../../helpers/lab.js';
import type { LeaseProcessLine } from '../../helpers/lease-process.js';

/** ha.takeoverSeconds 3: a lease ttl of 2 s, renewed every 0.67 s (2 s failed once here at load 11: the worker itself starved of CPU for a ttl). */
const TAKEOVER_MS = 3000;
const TTL_MS = leaseTtlMs(TAKEOVER_MS);

/** Blocks this thread's event loop, as a state reload or a period close does (nothing else of this thread runs meanwhile). */
function busyLoop(ms: number): number {
  const end = Date.now() + ms;
  let spins = 0;
  while (Date.now() < end) spins++;
  return spins;
}

/** Lets this thread's event loop run its queued messages and timers (the worker's reports). */
const breathe = (ms = 200): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** This process's lease (the gateway whose main thread the test blocks), its events, and its log lines. */
async function startOurs(t: TestContext, databaseUrl: string, stallMs: number): Promise<{ created: GatewayLease; events: string[]; log: string[] }> {
  const log: string[] = [];
  const created = createLease({ takeoverMs: TAKEOVER_MS, stallMs, databaseUrl }, 'http://a', pino({ level: 'warn' }, { write: (line: string) => void log.push(line) }));
  const events: string[] = [];
  created.lease.signals.on('active', (token) => events.push(`active:${token}`));
  created.lease.signals.on('standby', (reason) => events.push(`standby:${reason}`));
  t.after(() => created.lease.close());
  await created.lease.start();
  return { created, events, log };
}

/** The other gateway's lease in its own process (its main thread is not blocked), with the lines it printed. */
async function startOther(t: TestContext, databaseUrl: string): Promise<{ lines: LeaseProcessLine[]; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('../../helpers/lease-process.js', import.meta.url))], {
    env: { ...process.env, HYPHA_TEST_LEASE_DB: databaseUrl, HYPHA_TEST_LEASE_URL: 'http://b', HYPHA_TEST_LEASE_TAKEOVER_MS: String(TAKEOVER_MS) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: LeaseProcessLine[] = [];
  let buffered = '';
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const p of parts) if (p !== '') lines.push(JSON.parse(p) as LeaseProcessLine);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  t.after(stop);
  await waitFor('the other gateway to start', () => (lines.some((l) => l.event === 'started') ? true : undefined), 20_000);
  return { lines, stop };
}

/** The lease row as the database has it. */
async function leaseRow(url: string): Promise<{ holder: string; url: string; token: number }> {
  const [row] = await sql<{ holder: string; url: string; token: string }>(url, "SELECT holder, url, token FROM hypha_lease WHERE name = 'active'");
  assert.ok(row, 'the lease row exists');
  return { holder: row.holder, url: row.url, token: Number(row.token) };
}

/** One fence check inside a real transaction, as each write of the PostgreSQL store makes it (rolled back: nothing is written). */
async function fenceCheck(url: string, created: GatewayLease): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('BEGIN');
    await created.fence?.check(c);
  } finally {
    await c.query('ROLLBACK').catch(() => undefined);
    await c.end();
  }
}

test('real PostgreSQL: a main thread blocked for three lease ttls (under the stall bound) keeps the lease: no token change, the standby stays standby, writes still pass the fence', { skip: PG_SKIP }, async (t) => {
  const server = await startTestPostgres(t);
  const ours = await startOurs(t, server.url, 20_000);
  assert.equal(ours.created.lease.role(), 'active');
  const other = await startOther(t, server.url);
  assert.equal(other.lines[0]?.role, 'standby');

  busyLoop(3 * TTL_MS + 500);
  await breathe();

  assert.equal(ours.created.lease.role(), 'active', 'still active');
  assert.equal(ours.created.lease.term(), 1, 'the same term: nothing to reload');
  assert.deepEqual(ours.events, ['active:1'], `no role change after the first round's (the gateway kept every active part); log: ${ours.log.join('')}`);
  const row = await leaseRow(server.url);
  assert.deepEqual([row.url, row.token], ['http://a', 1], 'the database still names this gateway under token 1');
  await fenceCheck(server.url, ours.created);
  assert.ok(!other.lines.some((l) => l.event === 'active'), 'the other gateway never took over');
  assert.ok(ours.log.some((l) => /the main thread did not run for \d+ ms \(longer than the lease's ttl/.test(l)), 'the stall was longer than the ttl, and was logged');
});

test('real PostgreSQL: a main thread blocked past the stall bound loses the lease while still blocked; the standby takes over, and the woken gateway stands by and writes nothing', { skip: PG_SKIP }, async (t) => {
  const server = await startTestPostgres(t);
  const STALL_MS = 4000;
  const ours = await startOurs(t, server.url, STALL_MS);
  const other = await startOther(t, server.url);
  assert.equal(ours.created.lease.role(), 'active');

  busyLoop(STALL_MS + 2 * TAKEOVER_MS);
  const wokeAtMs = Date.now();
  await waitFor('this gateway to stand down', () => (ours.created.lease.role() === 'standby' ? true : undefined), 10_000);

  const taken = other.lines.find((l) => l.event === 'active');
  assert.ok(taken, 'the other gateway took over');
  assert.equal(taken.token, 2, 'under the next token');
  assert.ok(taken.atMs < wokeAtMs, 'while this gateway\'s main thread was still blocked: the worker gave the lease up by itself');
  assert.ok(ours.events.some((e) => /^standby:the gateway's main thread has not run for [\d.]+ s, past ha\.stallSeconds/.test(e)), ours.events.join('; '));
  assert.equal(ours.created.lease.term(), undefined);
  await assert.rejects(fenceCheck(server.url, ours.created), FencedError, 'the woken gateway writes nothing');
  const row = await leaseRow(server.url);
  assert.deepEqual([row.url, row.token], ['http://b', 2]);
  await breathe(TTL_MS);
  assert.equal(ours.created.lease.role(), 'standby', 'awake again, it stands by behind the new holder');
  assert.equal(ours.created.lease.activeUrl(), 'http://b');
});

test('real PostgreSQL: a lease worker that dies makes the gateway stand down at once; the other takes over, a new worker follows the lease again, and one that dies young too is replaced after twice the wait', { skip: PG_SKIP }, async (t) => {
  const server = await startTestPostgres(t);
  // The lease's worker as Node announces it (process 'worker' event): killed below as a crash would end it.
  const spawned = new Promise<Worker>((resolve, reject) => {
    process.once('worker', resolve);
    setTimeout(() => reject(new Error('no worker thread was started for the lease')), 20_000).unref();
  });
  const ours = await startOurs(t, server.url, 20_000);
  const other = await startOther(t, server.url);
  assert.equal(ours.created.lease.role(), 'active');
  const worker = await spawned;
  const respawned = new Promise<Worker>((resolve) => process.once('worker', resolve));

  await worker.terminate();
  assert.equal(ours.created.lease.role(), 'standby', 'stood down as soon as the worker was gone');
  assert.match(ours.events.at(-1) ?? '', /^standby:the lease worker stopped/);
  await assert.rejects(fenceCheck(server.url, ours.created), FencedError, 'no writes without the worker');
  await waitFor('the other gateway to take over', () => (other.lines.some((l) => l.event === 'active') ? true : undefined), 15_000);
  assert.equal((await leaseRow(server.url)).token, 2);

  // A new worker starts one ttl later and follows the lease: standby behind the other.
  const second = await respawned;
  await waitFor('the new worker to see the other holder', () => (ours.created.lease.activeUrl() === 'http://b' ? true : undefined), 15_000);
  assert.equal(ours.created.lease.role(), 'standby');
  assert.ok(ours.log.some((l) => l.includes(`lease: the lease worker stopped (exit code 1): standing down; a new one starts in ${TTL_MS} ms`)), 'the first wait is one ttl');

  // That one dies young too: the wait before the next is twice as long (RespawnBackoff), and the gateway stays stood down meanwhile.
  const third = new Promise<Worker>((resolve) => process.once('worker', resolve));
  await second.terminate();
  assert.equal(ours.created.lease.role(), 'standby');
  assert.equal(ours.created.lease.activeUrl(), undefined, 'no holder shown without a worker to follow the lease');
  assert.ok(ours.log.some((l) => l.includes(`a new one starts in ${2 * TTL_MS} ms`)), `the second wait is two ttls; log: ${ours.log.join('')}`);
  await third;
  await waitFor('the third worker to see the other holder', () => (ours.created.lease.activeUrl() === 'http://b' ? true : undefined), 15_000);

  // Active again when the other stops.
  await other.stop();
  await waitFor('this gateway to be active again', () => (ours.created.lease.role() === 'active' ? true : undefined), 15_000);
  assert.equal(ours.created.lease.term(), 3, 'a new term (state reloaded), never the old one resumed');
  await fenceCheck(server.url, ours.created);
  const stopped = 'standby:the lease worker stopped (exit code 1)';
  const behind = 'standby:another gateway holds the lease';
  assert.deepEqual(ours.events, ['active:1', stopped, behind, stopped, behind, 'active:3']);
});
