// Two `hypha gateway` processes on one real PostgreSQL store, at two Mycelium addresses in a private namespace: SIGSTOP/SIGCONT fences the paused one, kill -9 of the active one hands over, rounds of it; one gateway through its database stopped or stalled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { HYPHA_BIN } from '../../../src/lab/lab-state.js';
import { waitFor } from '../../helpers/lab.js';
import { scratchDir } from '../../helpers/paths.js';
import { addLoopbackAddresses } from '../../helpers/private-netns.js';
import { inPrivateNamespace } from '../../helpers/namespaced-test-file.js';
import { startTestPostgres } from '../../helpers/postgres.js';
import { jsonRequest } from '../../helpers/source-http.js';

/** Answers in runs, e.g. "200×12 -1×18 503×40" (-1: connection refused; 0: cut or no answer within 3 s). */
function inRuns(statuses: readonly number[]): string {
  const runs: Array<{ status: number; n: number }> = [];
  for (const status of statuses) {
    const last = runs.at(-1);
    if (last?.status === status) last.n++;
    else runs.push({ status, n: 1 });
  }
  return runs.map((r) => `${r.status}×${r.n}`).join(' ');
}

/**
 * One gateway process on a real PostgreSQL server (its own test server), on a fresh loopback address,
 * and `get`, which asks it from a second address: -1 for a refused connection, 0 for any other failure
 * (kept in `failures`), else the answer. Started and waited for until it serves.
 */
async function pgGateway(t: { after(fn: () => unknown): void }, prefix: string) {
  const server = await startTestPostgres(t);
  const [addr, customer] = (await addLoopbackAddresses(2)) as [string, string];
  const { dir, remove } = scratchDir(prefix);
  t.after(() => remove());
  writeFileSync(join(dir, 'g.json'), JSON.stringify({ listen: addr, port: 8480, dataDir: join(dir, 'g'), store: { kind: 'postgres', url: server.url }, probes: { enabled: false }, provisioner: { kind: 'agent' }, ha: { takeoverSeconds: TAKEOVER_SECONDS } }));
  const out = openSync(join(dir, 'g.log'), 'a');
  const gateway = spawn(process.execPath, [HYPHA_BIN, 'gateway', '--config', join(dir, 'g.json')], { stdio: ['ignore', out, out] });
  t.after(() => {
    if (gateway.exitCode === null) gateway.kill('SIGKILL');
  });
  const failures: string[] = [];
  const get = async (path: string): Promise<{ status: number; text: string }> => {
    try {
      return await jsonRequest({ host: addr, port: 8480 }, customer, 'GET', path, undefined, 3000);
    } catch (err) {
      // Refused (nothing listens) is what the standby's early start prevents; a request the stopping
      // active server cut after its 2 s is another matter (operator.md: in flight gets 2 s).
      const code = (err as { code?: unknown }).code;
      if (code !== 'ECONNREFUSED') failures.push(err instanceof Error ? err.message : String(err));
      return { status: code === 'ECONNREFUSED' ? -1 : 0, text: '' };
    }
  };
  await waitFor('the gateway to serve', async () => ((await get('/v1/offers')).status === 200 ? true : undefined), WAIT_MS, 200);
  return { server, addr, customer, dir, gateway, get, failures };
}

const NAME = 'gateway processes: a paused active one is fenced when it wakes; kill -9 of the active one hands over, three rounds';
/** The configured takeover bound (seconds); waits below allow it plus a start-up on a loaded machine. */
const TAKEOVER_SECONDS = 3;
const WAIT_MS = (TAKEOVER_SECONDS + 20) * 1000;

if (inPrivateNamespace({ name: NAME, moduleUrl: import.meta.url, tests: 3, timeoutMs: 400_000 })) {
  test(NAME, async (t) => {
    const server = await startTestPostgres(t);
    const [addrA, addrB, customer] = (await addLoopbackAddresses(3)) as [string, string, string];
    const { dir, remove } = scratchDir('hypha-ha-sig-');
    t.after(() => remove());
    const addresses = { a: addrA, b: addrB } as const;
    type Name = keyof typeof addresses;
    const urlOf = (n: Name): string => `http://[${addresses[n]}]:8480`;
    const procs: Partial<Record<Name, ChildProcess>> = {};
    const logOf = (n: Name): string => join(dir, `${n}.log`);
    for (const n of ['a', 'b'] as const) {
      writeFileSync(
        join(dir, `${n}.json`),
        JSON.stringify({ listen: addresses[n], port: 8480, dataDir: join(dir, n), keyFile: join(dir, 'gateway.key'), store: { kind: 'postgres', url: server.url }, probes: { enabled: false }, provisioner: { kind: 'agent' }, ha: { takeoverSeconds: TAKEOVER_SECONDS } }),
      );
    }
    const start = (n: Name): void => {
      const out = openSync(logOf(n), 'a');
      procs[n] = spawn(process.execPath, [HYPHA_BIN, 'gateway', '--config', join(dir, `${n}.json`)], { stdio: ['ignore', out, out] });
    };
    t.after(() => {
      for (const p of Object.values(procs)) if (p.exitCode === null) p.kill('SIGKILL');
    });
    const ask = async (n: Name): Promise<{ status: number; active?: string }> => {
      try {
        const r = await jsonRequest({ host: addresses[n], port: 8480 }, customer, 'GET', '/v1/offers', undefined, 3000);
        return { status: r.status, ...(r.status === 503 ? { active: (r.json as { error?: { active?: string } }).error?.active } : {}) };
      } catch {
        return { status: 0 };
      }
    };
    const serving = (n: Name): Promise<true> => waitFor(`${n} to serve as the active gateway`, async () => ((await ask(n)).status === 200 ? true : undefined), WAIT_MS, 200);
    const standbyNaming = (n: Name, active: Name): Promise<true> =>
      waitFor(`${n} to answer as a standby naming ${active}`, async () => {
        const r = await ask(n);
        return r.status === 503 && r.active === urlOf(active) ? true : undefined;
      }, WAIT_MS, 200);
    const db = new pg.Client({ connectionString: server.url });
    // The server stops when the test ends (its after hook): this connection is then cut, which is expected.
    db.on('error', () => undefined);
    await db.connect();
    t.after(() => db.end().catch(() => undefined));
    const lease = async (): Promise<{ url: string; token: number }> => {
      const { rows } = await db.query<{ url: string; token: string }>("SELECT url, token FROM hypha_lease WHERE name = 'active'");
      return { url: rows[0]?.url ?? '', token: Number(rows[0]?.token ?? 0) };
    };

    start('a');
    await serving('a');
    start('b');
    await standbyNaming('b', 'a');
    const first = await lease();
    assert.equal(first.url, urlOf('a'));

    // SIGSTOP the active one: the standby takes the lease (a higher token) and serves.
    procs.a?.kill('SIGSTOP');
    await serving('b');
    const second = await lease();
    assert.deepEqual(second, { url: urlOf('b'), token: first.token + 1 });
    // SIGCONT: the woken one finds its lease gone, stops every active part, and answers as a standby naming b.
    procs.a?.kill('SIGCONT');
    await standbyNaming('a', 'b');
    assert.equal(procs.a?.exitCode, null, 'it stayed up, as a standby');
    // The standby answers as soon as the active server stops listening; the other parts may still be stopping.
    await waitFor('the woken one to have stopped every active part', () => (/lost the lease: every active part stopped/.test(readFileSync(logOf('a'), 'utf8')) ? true : undefined), WAIT_MS, 100);
    assert.deepEqual(await lease(), second, 'the woken one did not take the lease back');

    // Rounds of kill -9 of whichever is active; the other takes over and the killed one comes back as a standby.
    let active: Name = 'b';
    for (let round = 0; round < 3; round++) {
      const other: Name = active === 'a' ? 'b' : 'a';
      const before = await lease();
      // A random moment within a lease round, so the kill lands at different points of the renew cycle.
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 700)));
      procs[active]?.kill('SIGKILL');
      await serving(other);
      const after = await lease();
      assert.deepEqual(after, { url: urlOf(other), token: before.token + 1 }, `round ${round}: ${other} took over under the next token`);
      start(active);
      await standbyNaming(active, other);
      active = other;
    }
  });

  test('a PostgreSQL outage longer than the lease: the gateway reports it, stands by (refusing every write with 503), and recovers by itself', async (t) => {
    const { server, dir, gateway, get } = await pgGateway(t, 'hypha-ha-pgdown-');
    await server.stop();
    // Within the lease's ttl it steps down on its own clock: customers get 503 standby, admins the outage line.
    await waitFor('the outage to be reported to admins', async () => (/lease database UNREACHABLE/.test((await get('/admin')).text) ? true : undefined), WAIT_MS, 200);
    const refused = await get('/v1/offers');
    assert.equal(refused.status, 503);
    assert.equal((JSON.parse(refused.text) as { error?: { code?: string } }).error?.code, 'standby');
    assert.match(readFileSync(join(dir, 'g.log'), 'utf8'), /the lease database is unreachable/);
    const { startPostgres } = await import('../../../src/lab/postgres-server.js');
    const again = await startPostgres({ dir: join(server.dataDir, '..') });
    t.after(() => again.stop());
    await waitFor('the gateway to be active again by itself', async () => ((await get('/v1/offers')).status === 200 ? true : undefined), WAIT_MS, 200);
    assert.equal(gateway.exitCode, null, 'the same process, never restarted');
  });

  test('a PostgreSQL server stalled (SIGSTOP) past the lease: with a request in flight, the gateway goes from serving to answering 503 standby without refusing a connection, and serves again after', async (t) => {
    const { server, addr, customer, gateway, get, failures } = await pgGateway(t, 'hypha-ha-pgstall-');
    // The server and every backend stop answering but keep their connections open, as on a host too loaded
    // to run them: unlike a stopped server, nothing is refused, so whatever waits on it waits.
    const postmaster = (readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '').trim();
    const pids = [postmaster, ...execFileSync('pgrep', ['-P', postmaster], { encoding: 'utf8' }).split('\n').filter((p) => p !== '')].map(Number);
    // A client mid-request (its headers not yet all sent) when the lease is lost: the active server waits
    // for it (2 s, then cuts it) before its close completes, as for any request still in flight.
    const slow = connect({ host: addr, port: 8480, localAddress: customer }, () => slow.write(`GET /v1/offers HTTP/1.1\r\nHost: [${addr}]:8480\r\n`));
    slow.on('error', () => undefined);
    t.after(() => slow.destroy());
    const signal = (sig: NodeJS.Signals): void => {
      for (const pid of pids) process.kill(pid, sig);
    };
    signal('SIGSTOP');
    let resumed = false;
    const resume = (): void => {
      if (!resumed) signal('SIGCONT');
      resumed = true;
    };
    t.after(resume);
    // Stepping down stops the active server; the standby server must listen at once, not after the parts
    // that wait on the stalled database have stopped (until then every connection was refused).
    const seen: number[] = [];
    let standby: { status: number; text: string };
    try {
      standby = await waitFor('a 503 standby answer while the database is stalled', async () => {
        const r = await get('/v1/offers');
        seen.push(r.status);
        return r.status === 503 ? r : undefined;
      }, WAIT_MS, 100);
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; answers while stalled: ${inRuns(seen)}`, { cause: err });
    } finally {
      resume();
    }
    t.diagnostic(`answers while stalled: ${inRuns(seen)}; failures other than refusals: ${failures.join('; ') || 'none'}`);
    assert.equal((JSON.parse(standby.text) as { error?: { code?: string } }).error?.code, 'standby');
    // From the last 200 to that 503, no connection was refused: the standby listened as soon as the active
    // server stopped, not once every active part had (the request in flight held those for 2 s).
    const sinceServing = seen.slice(seen.lastIndexOf(200) + 1);
    assert.equal(sinceServing.filter((st) => st === -1).length, 0, `no connection refused between the active server and the standby's (answers while stalled: ${inRuns(seen)}; other failures: ${failures.join('; ') || 'none'})`);
    await waitFor('the gateway to be active again by itself', async () => ((await get('/v1/offers')).status === 200 ? true : undefined), WAIT_MS, 200);
    assert.equal(gateway.exitCode, null, 'the same process, never restarted');
  });
}
