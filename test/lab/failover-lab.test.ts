// Issue 13 in the lab: two gateways on one PostgreSQL store; kill -9 the active one at random points while alice is billed, ten times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scratchDir } from '../helpers/paths.js';
import { hypha } from '../helpers/run.js';
import { startLab, waitFor, LAB_SKIP } from '../helpers/lab.js';
import { buyVm, link, sshKey } from '../helpers/scenario.js';
import { allReceiptsOf, checkBilledOnce, curlAt, haLines, LabDatabase, labStatus, type GatewayRow } from '../helpers/failover-lab.js';

/**
 * The lab's takeover bound (ha.takeoverSeconds): a lease ttl of 3.3 s, renewed every 1.1 s. Not 3 (ttl
 * 2 s): on the shared 2-core machine (load 12–21) a new active gateway's state reload stalled its event
 * loop for 2–3 s, past a 2 s ttl, so it lost the lease it had just taken.
 */
const TAKEOVER_SECONDS = 5;
/** Kill rounds (issue 13 asks for ten). */
const ROUNDS = 10;
/**
 * Rounds that go through `hypha lab stop --signal KILL` and `hypha lab status` (each gateway once);
 * the others send the same SIGKILL to the recorded pid and read the roles from the gateways and the
 * lease row, which keeps ten rounds near a minute and a half on a shared machine.
 */
const CLI_ROUNDS = 2;
/**
 * How long a takeover may take here before the test gives up: the bound plus a start-up (reloading
 * state) on a machine that other test files share, two at a time. Not a timing assertion: takeovers
 * take 2–6 s here (the diagnostics print each).
 */
const TAKEOVER_WAIT_MS = TAKEOVER_SECONDS * 1000 + 25_000;

test('--gateways 2 without --store postgres is refused, naming the option', async () => {
  const r = await hypha(['lab', 'up', '--detach', '--dir', '/nonexistent-hypha-lab', '--gateways', '2']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--gateways 2 needs --store postgres/);
});

test('two gateways in the lab: kill -9 the active one ten times at random points while alice is billed', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t, { hour: 1, extra: ['--store', 'postgres', '--gateways', '2', '--gateway-config', JSON.stringify({ ha: { takeoverSeconds: TAKEOVER_SECONDS } })] });
  const { dir, remove } = scratchDir();
  t.after(remove);
  const db = await LabDatabase.open(lab);
  t.after(() => db.close());

  const first = await labStatus(lab);
  assert.deepEqual(first.gateways.map((g) => [g.name, g.role]), [['gateway', 'active'], ['gateway-2', 'standby']]);
  assert.equal(first.gateway.url, first.gateways[0]?.url, 'the state\'s gateway is the active one');
  const urlOf = new Map(first.gateways.map((g: GatewayRow) => [g.name, g.url]));
  const standbyAnswer = await curlAt(lab, 'alice', first.gateways[1]?.url ?? '', '/v1/balance');
  assert.equal(standbyAnswer.status, 503, 'the standby answers 503 to a customer');
  assert.deepEqual(standbyAnswer.json, { error: { code: 'standby', active: first.gateways[0]?.url, message: `this gateway is a standby; the active gateway is ${first.gateways[0]?.url}` } });

  for (const a of ['admin', 'alice']) await link(lab, a);
  const key = await sshKey(dir, 'k');
  const vm = await buyVm(lab, 'alice', [key.pub], '50');
  const deploymentId = vm.deployment.id;
  await waitFor('billing to be under way', async () => ((await allReceiptsOf(lab, 'alice', deploymentId)).length >= 2 ? true : undefined));

  const killed: string[] = [];
  const nameOf = (url: string): string => [...urlOf].find(([, u]) => u === url)?.[0] ?? `unknown (${url})`;
  // Takeovers no kill caused. Safe (the fence holds) but needless. The lease is kept by a worker
  // thread, so main-thread stalls no longer cost it (0 in the runs since); a host starved of CPU for a
  // whole ttl could still delay the worker itself (docs/operator.md): counted, and bounded below.
  let swaps = 0;
  let lastToken = (await db.lease()).token;
  for (let round = 0; round < ROUNDS; round++) {
    const before = await db.lease();
    swaps += before.token - lastToken;
    const active = nameOf(before.url);
    assert.ok(urlOf.has(active), `round ${round}: a gateway of the lab holds the lease (${before.url})`);
    const other = active === 'gateway' ? 'gateway-2' : 'gateway';
    const otherUrl = urlOf.get(other) ?? '';
    // A random point of the lease round (0.67 s) and of the billing period (one lab hour, 1 s).
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1500)));
    const killedAt = Date.now();
    if (round < CLI_ROUNDS) {
      const stopped = await lab.lab('stop', active, '--signal', 'KILL');
      assert.equal(stopped.code, 0, stopped.stderr);
    } else {
      process.kill(lab.actor(active).pid ?? 0, 'SIGKILL');
    }
    killed.push(active);
    // alice's request answered by the other gateway: it holds the lease and has reloaded her deployment.
    await waitFor(`round ${round}: ${other} to take over from ${active}`, async () => {
      const r = await curlAt(lab, 'alice', otherUrl, `/v1/deployments/${deploymentId}`).catch((err: unknown) => ({ status: 0, text: String(err), json: undefined }));
      if (r.status === 200) return true;
      // Thrown, so a time-out says what the lease, the connections and both gateways last showed.
      throw new Error(`${other} answered ${r.status} ${r.text.slice(0, 200)}\nlease: ${JSON.stringify(await db.lease())}\n${(await db.connections()).join('\n')}\n${haLines(lab, 'gateway')}\n${haLines(lab, 'gateway-2')}`);
    }, TAKEOVER_WAIT_MS, 100);
    t.diagnostic(`round ${round}: ${active} killed, ${other} serving alice after ${Date.now() - killedAt} ms`);
    const after = await db.lease();
    assert.deepEqual([after.url, after.token], [otherUrl, before.token + 1], `round ${round}: ${other} took over under the next fencing token`);
    if (round < CLI_ROUNDS) {
      // lab status finds the new active one and points the lab's gateway (lab exec, link, fund) at it.
      // A snapshot: the new active one, still reloading or stalled by the load, may be unresponsive for a
      // moment (never down: its process lives), so status is asked until it shows the takeover.
      const expected = [[active, 'down'], [other, 'active']].sort();
      let roles: string[][] = [];
      const s = await waitFor(`round ${round}: lab status to show ${other} active`, async () => {
        const st = await labStatus(lab);
        roles = st.gateways.map((g) => [g.name, g.role]);
        return JSON.stringify(roles) === JSON.stringify(expected) ? st : undefined;
      }, 30_000, 500).catch((err: unknown) => assert.fail(`${String(err)}; last roles ${JSON.stringify(roles)}`));
      assert.equal(s.gateway.url, otherUrl, 'lab status points gateway at the new active one');
      assert.equal(lab.gw, otherUrl);
    }
    // The killed one comes back as the standby naming the new active one, while the farmers' agents reconnect.
    const [restarted] = await Promise.all([
      lab.lab('start', active),
      waitFor(`round ${round}: both nodes connected to ${other}`, async () => {
        const o = await curlAt(lab, 'admin', otherUrl, '/admin/api/overview');
        const nodes = (o.json as { nodes?: { list: Array<{ connected: boolean }> } } | undefined)?.nodes?.list ?? [];
        return nodes.length === 2 && nodes.every((n) => n.connected) ? true : undefined;
      }, 30_000),
    ]);
    assert.equal(restarted.code, 0, restarted.stderr);
    const back = await curlAt(lab, 'alice', urlOf.get(active) ?? '', '/v1/balance');
    assert.equal(back.status, 503);
    assert.equal((back.json as { error?: { code?: string; active?: string } }).error?.active, otherUrl, `round ${round}: the restarted ${active} stands by, naming ${other}`);
    lastToken = after.token;
  }
  swaps += (await db.lease()).token - lastToken;
  t.diagnostic(`takeovers no kill caused: ${swaps}`);
  assert.ok(killed.includes('gateway') && killed.includes('gateway-2'), 'each gateway was the active one and was killed');
  assert.ok(swaps <= 2, `at most two needless swaps in ${ROUNDS} rounds (${swaps})`);
  const end = await labStatus(lab);
  assert.deepEqual(end.gateways.map((g) => g.role).sort(), ['active', 'standby']);
  assert.equal(end.gateway.url, (await db.lease()).url, 'lab status points gateway at the active one');

  // A few more periods after the last takeover, then the whole chain and the money.
  const settled = (await allReceiptsOf(lab, 'alice', deploymentId)).length;
  await waitFor('billing to go on after the last takeover', async () => ((await allReceiptsOf(lab, 'alice', deploymentId)).length >= settled + 2 ? true : undefined), 30_000);
  const receipts = await checkBilledOnce(lab, dir, deploymentId, vm.id);
  t.diagnostic(`${receipts.length} receipts over ${ROUNDS} takeovers, each period once`);
});
