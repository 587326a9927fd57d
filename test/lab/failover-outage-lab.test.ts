// Issue 13 in the lab, the other two failures: the active gateway paused (SIGSTOP) and woken, and the PostgreSQL server stopped mid-run, while alice is billed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { storeApplicationName } from '../../src/gateway/ha/holder-connections.js';
import { startPostgres, stopPostgres } from '../../src/lab/postgres-server.js';
import { scratchDir } from '../helpers/paths.js';
import { startLab, waitFor, LAB_SKIP } from '../helpers/lab.js';
import { buyVm, link, sshKey } from '../helpers/scenario.js';
import { allReceiptsOf, checkBilledOnce, curlAt, haLines, LabDatabase, labStatus, leaseLines, leaseWrites } from '../helpers/failover-lab.js';

/** The lab's takeover bound (ha.takeoverSeconds): a lease ttl of 3.3 s (why not less: test/lab/failover-lab.test.ts). */
const TAKEOVER_SECONDS = 5;
/** How long a takeover or a recovery may take here before the test gives up (the bound plus a loaded machine's start-up). */
const WAIT_MS = TAKEOVER_SECONDS * 1000 + 25_000;
/**
 * How long PostgreSQL stays down. Issue 13 says 30 s; CI runs 8 s (HYPHA_PG_OUTAGE_SECONDS=30 for the
 * full length): what is checked needs only an outage longer than the lease's ttl (3.3 s here), so that
 * the active gateway must step down, and several billing periods (one lab hour is 1 s) passing
 * unbilled, which the recovered gateway must close, each once. 30 s checks the same with 30 periods
 * and costs 22 s more of CI time.
 */
const OUTAGE_SECONDS = Number(process.env.HYPHA_PG_OUTAGE_SECONDS ?? 8);

test('two gateways in the lab: a paused active gateway writes nothing once woken; a PostgreSQL outage is reported, writes are refused with 503, and the gateways recover by themselves with every period billed once', { skip: LAB_SKIP }, async (t) => {
  assert.ok(Number.isInteger(OUTAGE_SECONDS) && OUTAGE_SECONDS > TAKEOVER_SECONDS, 'HYPHA_PG_OUTAGE_SECONDS must be a whole number above the takeover bound');
  const lab = await startLab(t, { hour: 1, extra: ['--store', 'postgres', '--gateways', '2', '--gateway-config', JSON.stringify({ ha: { takeoverSeconds: TAKEOVER_SECONDS } })] });
  const { dir, remove } = scratchDir();
  t.after(remove);
  let db = await LabDatabase.open(lab);
  t.after(() => db.close());
  const serverLog = join(lab.dir, 'postgres', 'server.log');
  // The server logs every modifying statement with the application name of its connection (the gateway process's).
  await db.query("ALTER SYSTEM SET log_statement = 'mod'");
  await db.query("ALTER SYSTEM SET log_line_prefix = '%m [%p] app=%a '");
  await db.query('SELECT pg_reload_conf()');

  const first = await labStatus(lab);
  const urlOf = new Map(first.gateways.map((g) => [g.name, g.url]));
  const [gw1, gw2] = [urlOf.get('gateway') ?? '', urlOf.get('gateway-2') ?? ''];
  for (const a of ['admin', 'alice']) await link(lab, a);
  const key = await sshKey(dir, 'k');
  const vm = await buyVm(lab, 'alice', [key.pub], '50');
  const deploymentId = vm.deployment.id;
  await waitFor('billing to be under way', async () => ((await allReceiptsOf(lab, 'alice', deploymentId)).length >= 2 ? true : undefined));
  const serving = (url: string, what: string): Promise<true> =>
    waitFor(what, async () => {
      const r = await curlAt(lab, 'alice', url, `/v1/deployments/${deploymentId}`).catch((err: unknown) => ({ status: 0, text: String(err) }));
      if (r.status === 200) return true as const;
      throw new Error(`${url} answered ${r.status} ${r.text.slice(0, 200)}\n${haLines(lab, 'gateway')}\n${haLines(lab, 'gateway-2')}`);
    }, WAIT_MS, 100);

  // 1. SIGSTOP the active gateway (often in the middle of a write: billing writes every lab hour).
  const paused = await db.lease();
  assert.equal(paused.url, gw1);
  const pausedName = storeApplicationName(paused.holder);
  const pid = lab.actor('gateway').pid ?? 0;
  process.kill(pid, 'SIGSTOP');
  t.after(() => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Already gone (lab down ran first): nothing to wake.
    }
  });
  await serving(gw2, 'gateway-2 to take over from the paused gateway');
  const taken = await db.lease();
  assert.deepEqual([taken.url, taken.token], [gw2, paused.token + 1], 'gateway-2 holds the lease under the next fencing token');
  // Billing goes on under gateway-2 while the other sleeps (asked of gateway-2: the lab state still names the sleeping one).
  const receiptsAt = async (url: string): Promise<number> => (await allReceiptsOf(lab, 'alice', deploymentId, url)).length;
  const underTwo = await receiptsAt(gw2);
  await waitFor('billing to go on under gateway-2', async () => ((await receiptsAt(gw2)) >= underTwo + 2 ? true : undefined), 30_000);
  const logBefore = readFileSync(serverLog, 'utf8');
  assert.ok(logBefore.split('\n').some((l) => isStatementOf(l, pausedName)), 'the paused gateway\'s writes were in the server log before it was paused (so the check below can fail)');
  const wokenAt = statSync(serverLog).size;
  process.kill(pid, 'SIGCONT');
  // Woken, it finds its lease gone, stops every active part, and stands by naming gateway-2.
  await waitFor('the woken gateway to stand by, naming gateway-2', async () => {
    const r = await curlAt(lab, 'alice', gw1, '/v1/balance');
    return r.status === 503 && (r.json as { error?: { active?: string } }).error?.active === gw2 ? true : undefined;
  }, WAIT_MS, 100);
  // The standby answers as soon as the active server stops listening; the other parts may still be stopping.
  await waitFor('the woken gateway to have stopped every active part', () => (/lost the lease: every active part stopped/.test(readFileSync(join(lab.dir, 'logs', 'gateway.log'), 'utf8')) ? true : undefined), WAIT_MS, 100);
  // Let its timers (billing, orders, deployments) come due once more, then read what the database got.
  await new Promise((r) => setTimeout(r, 2000));
  const since = readFileSync(serverLog).subarray(wokenAt).toString('utf8');
  const written = since.split('\n').filter((l) => isStatementOf(l, pausedName));
  assert.deepEqual(written, [], 'the woken gateway sent the database no write');
  assert.deepEqual(await db.lease().then((l) => [l.holder, l.token]), [taken.holder, taken.token], 'nor took the lease back');
  assert.deepEqual((await db.connections()).filter((c) => c.startsWith(pausedName)), [], 'its store connections are gone (ended by the takeover, its pool closed)');
  await serving(gw2, 'gateway-2 to serve on');

  // 2. Stop PostgreSQL (fast shutdown: open transactions roll back).
  await db.close();
  const downAt = Date.now();
  const downIso = new Date(downAt).toISOString();
  await stopPostgres(join(lab.dir, 'postgres'));
  // The active one steps down within the lease's ttl on its own clock: customers get 503 saying so, reads and writes alike.
  const refusal = await waitFor('the active gateway to refuse customers, naming the outage', async () => {
    const r = await curlAt(lab, 'alice', gw2, `/v1/deployments/${deploymentId}`);
    return r.status === 503 ? r : undefined;
  }, WAIT_MS, 100);
  assert.deepEqual(refusal.json, { error: { code: 'standby', message: 'this gateway cannot reach its database: nothing is written here (no order, payment or change) until it can; try again shortly' } });
  const order = await lab.exec('alice', 'curl', ['-s', '-w', '\n%{http_code}', '-X', 'POST', '-H', 'content-type: application/json', '--data-binary', '{"offer":"small","sshKeys":[]}', `${gw2}/v1/orders`]);
  assert.match(order.stdout, /"code":"standby","message":"this gateway cannot reach its database[\s\S]*\n503$/, 'a new order is refused, with the same answer');
  // Admins see the outage on both gateways' /admin.
  for (const url of [gw1, gw2]) {
    const admin = await waitFor(`${url}/admin to report the outage`, async () => {
      const r = await curlAt(lab, 'admin', url, '/admin');
      return /lease database UNREACHABLE/.test(r.text) ? r : undefined;
    }, WAIT_MS, 200);
    assert.equal(admin.status, 503);
  }
  assert.match(readFileSync(join(lab.dir, 'logs', 'gateway-2.log'), 'utf8'), /the lease database is unreachable/);
  const left = OUTAGE_SECONDS * 1000 - (Date.now() - downAt);
  if (left > 0) await new Promise((r) => setTimeout(r, left));
  const restartedAt = statSync(serverLog).size;
  await startPostgres({ dir: join(lab.dir, 'postgres') });
  t.diagnostic(`PostgreSQL was down for ${Date.now() - downAt} ms`);

  // 3. They recover by themselves: one takes the lease (the next token), reloads, and bills on.
  db = await LabDatabase.open(lab);
  const recovered = await waitFor('a gateway to serve alice again, by itself', async () => {
    for (const url of [gw1, gw2]) {
      const r = await curlAt(lab, 'alice', url, `/v1/deployments/${deploymentId}`).catch(() => undefined);
      if (r?.status === 200) return url;
    }
    return undefined;
  }, WAIT_MS, 200);
  t.diagnostic(`recovered on ${recovered === gw1 ? 'gateway' : 'gateway-2'} ${Date.now() - downAt} ms after the stop`);
  const after = await db.lease();
  // Each takeover costs a full state reload and a moment of 503s, so a second one is a fault to explain: the
  // gateways' lease lines (who went active under which token, who stood down and why) say which sequence it was.
  assert.deepEqual([after.url, after.token], [recovered, taken.token + 1], `one takeover after the outage, under the next token; the gateways' lease lines:\n${leaseLines(lab, 'gateway', downIso)}\n${leaseLines(lab, 'gateway-2', downIso)}\nthe lease row's writes since the restart:\n${leaseWrites(serverLog, restartedAt)}`);
  const end = await labStatus(lab);
  assert.deepEqual(end.gateways.map((g) => g.role).sort(), ['active', 'standby'], 'both processes are up, one active, one standing by: nothing was restarted by hand');
  assert.deepEqual(end.gateways.map((g) => g.pid), first.gateways.map((g) => g.pid), 'the same two processes');
  // Once, before ReceiptLog handed the store a copy of a deployment's positions, a close committing during a read
  // made this answer 500 ("money_log: no record at position N"); test/gateway/receipt-log.test.ts covers that race.
  await t.test('after the recovery: billing goes on, every period billed once, the chain verifies', async () => {
    const afterRecovery = (await allReceiptsOf(lab, 'alice', deploymentId)).length;
    await waitFor('billing to go on after the recovery', async () => ((await allReceiptsOf(lab, 'alice', deploymentId)).length >= afterRecovery + 2 ? true : undefined), 30_000);
    const receipts = await checkBilledOnce(lab, dir, deploymentId, vm.id);
    t.diagnostic(`${receipts.length} receipts across the pause and the outage, each period once`);
  });
});

/** A statement the server logged (log_statement = 'mod': a write) from a connection named `app`. */
function isStatementOf(line: string, app: string): boolean {
  return line.includes(`app=${app} `) && /LOG:\s+(statement|execute)/.test(line);
}
