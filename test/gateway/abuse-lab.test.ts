// The abuse limits in the lab, over real sockets on 400::/7: a flood of self-signed agent hellos from one /64, ten orders paid by one deposit fired with real curl in parallel, and an oversize SSH key list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { REPO_ROOT, readVectors, scratchDir } from '../helpers/paths.js';
import { runCommand } from '../helpers/run.js';
import { startLab, waitFor, type TestLab } from '../helpers/lab.js';
import { adminGet, agentOf, fund, link, order, sshKey, type OrderView } from '../helpers/scenario.js';

const FIXTURE = join(REPO_ROOT, 'dist', 'test', 'gateway', 'hello-flood-fixture.js');

interface AgentsView {
  agents: Array<{ agent: string; state: string }>;
}

async function flood(lab: TestLab, actor: string, count: number, node: string): Promise<Array<{ agent: string; closed: number; reason: string }>> {
  const r = await runCommand('ip', ['netns', 'exec', lab.actor(actor).ns, process.execPath, FIXTURE, lab.gw, String(count), node], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { agent: string; closed: number; reason: string });
}

test('abuse limits in the lab', async (t) => {
  // One billed hour lasts 60 s, so the 2-hour order expiry does not race the test.
  const lab = await startLab(t, { hour: 60 });
  const { dir, remove } = scratchDir();
  t.after(remove);
  await link(lab, 'admin');
  await link(lab, 'alice');

  await t.test('12 fresh agent keys from one /64: 3 wait for an admin, 9 are refused naming agentRequests.maxPerSubnet; another /64 may still ask', async () => {
    const out = await flood(lab, 'bob', 12, 'node-flood');
    const waiting = out.filter((o) => /is not approved yet/.test(o.reason));
    const refused = out.filter((o) => /^agentRequests\.maxPerSubnet \(3\) reached/.test(o.reason));
    assert.equal(waiting.length, 3, JSON.stringify(out));
    assert.equal(refused.length, 9, JSON.stringify(out));
    assert.ok(out.every((o) => o.closed === 4403));
    const pending = (await adminGet<AgentsView>(lab, '/admin/api/agents')).agents.filter((a) => a.state === 'pending');
    assert.deepEqual(pending.map((a) => a.agent).sort(), waiting.map((o) => o.agent).sort(), 'only the 3 under the cap are stored');
    const other = await flood(lab, 'alice', 1, 'node-other');
    assert.match(other[0]?.reason ?? '', /is not approved yet/);
  });

  await t.test('10 orders, one deposit, 10 real curls in parallel: exactly one order is paid and handed over', async () => {
    const key = await sshKey(dir, 'alice');
    const orders = await Promise.all(Array.from({ length: 10 }, () => order(lab, 'alice', 'small', [key.pub])));
    await fund(lab, await agentOf(lab, 'alice'), orders[0]?.deposit ?? '');
    await Promise.all(orders.map((o) => lab.curl('alice', 'GET', `/v1/orders/${o.id}`)));
    const settled = await waitFor('one order to be active and nothing else moving', async () => {
      const list = ((await lab.curl('alice', 'GET', '/v1/orders')).json as { orders: OrderView[] }).orders;
      const states = list.map((o) => o.state);
      return states.includes('active') && !states.includes('paid') && !states.includes('provisioning') ? states : undefined;
    }, 30_000);
    assert.equal(settled.filter((s) => s === 'active').length, 1, settled.join(', '));
    assert.equal(settled.filter((s) => s === 'awaiting_payment').length, 9, settled.join(', '));
  });

  await t.test('an order whose SSH keys add up to over orders.maxSshKeyBytes (8 KiB) gets 413 naming sshKeys', async () => {
    const keys = readVectors<{ accepted: { line: string }[] }>('ssh-keys.json').accepted.slice(0, 3).map((k, i) => `${k.line.split(' ').slice(0, 2).join(' ')} ${String(i).repeat(7000)}`);
    await link(lab, 'bob');
    const big = await lab.curl('bob', 'POST', '/v1/orders', { offer: 'small', sshKeys: keys });
    assert.equal(big.status, 413, big.text);
    const error = (big.json as { error: { code: string; field: string; limit: string } }).error;
    assert.equal(error.code, 'payload_too_large');
    assert.equal(error.field, 'sshKeys');
    assert.equal(error.limit, 'orders.maxSshKeyBytes');
  });
});
