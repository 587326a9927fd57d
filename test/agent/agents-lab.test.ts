// Issue 4 in the lab: agents authenticate over real WebSockets, their heartbeats raise up-time, refusals, outages and forged chains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, scratchDir } from '../helpers/paths.js';
import { runCommand } from '../helpers/run.js';
import { startLab, waitFor, type TestLab, LAB_SKIP } from '../helpers/lab.js';
import { adminGet, agentOf, buyVm, link, ssh, sshKey } from '../helpers/scenario.js';

const FIXTURE = join(REPO_ROOT, 'dist', 'test', 'agent', 'ws-agent-fixture.js');

interface NodesView {
  nodes: Array<{ id: string; farmer: string; connected: boolean; up: boolean; periods: Array<{ periodStart: string; upSeconds: number; periodSeconds: number }> }>;
}
interface AgentsView {
  agents: Array<{ agent: string; state: string; connected: boolean; disagreements: Record<string, number> }>;
}

async function fixture(lab: TestLab, actor: string, keyActor: string, node: string, mode: string, claimed?: string): Promise<Array<Record<string, unknown>>> {
  const r = await runCommand('ip', ['netns', 'exec', lab.actor(actor).ns, process.execPath, FIXTURE, lab.gw, lab.actor(keyActor).key, node, mode, ...(claimed ? [claimed] : [])], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Lab time (ms) at a real time, from the lab's epoch and speed. */
function labMs(lab: TestLab, realMs: number): number {
  const s = lab.state();
  return s.epochMs + (realMs - s.epochMs) * (3600 / s.hourSeconds);
}

test('farmer agents in the lab', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t);
  const { dir, remove } = scratchDir();
  t.after(remove);
  await link(lab, 'admin');
  await link(lab, 'alice');
  const alice = await sshKey(dir, 'alice');
  const other = await sshKey(dir, 'other');

  await t.test('both agents authenticate, and their heartbeats raise their nodes\' up-time', async () => {
    const nodes = await waitFor('a full period of up-time on both nodes', async () => {
      const v = await adminGet<NodesView>(lab, '/admin/api/nodes');
      return v.nodes.length === 2 && v.nodes.every((n) => n.connected && n.up && n.periods.some((p) => p.upSeconds >= 3500)) ? v : undefined;
    });
    assert.deepEqual(nodes.nodes.map((n) => n.id).sort(), ['node-farmer1', 'node-farmer2']);
    const farmers = await Promise.all(['farmer1', 'farmer2'].map((f) => agentOf(lab, f)));
    assert.deepEqual(nodes.nodes.map((n) => n.farmer).sort(), farmers.sort());
  });

  let vm: { id: string; myceliumIp: string };
  let vmNode = '';
  await t.test('a bought VM is a real SSH endpoint: the customer key runs a command, another key is refused', async () => {
    const bought = await buyVm(lab, 'alice', [alice.pub], '10');
    vm = bought.deployment;
    const ok = await ssh(lab, 'alice', alice.path, vm.myceliumIp, 'echo hello-$((6*7)); exit 3');
    assert.equal(ok.code, 3, ok.stderr);
    assert.equal(ok.stdout.trim(), 'hello-42');
    const who = await ssh(lab, 'alice', alice.path, vm.myceliumIp, 'id -u');
    assert.equal(who.code, 0, who.stderr);
    assert.notEqual(who.stdout.trim(), '0', "the VM's shell is not root");
    for (const farmer of ['farmer1', 'farmer2']) {
      const key = await ssh(lab, 'alice', alice.path, vm.myceliumIp, `cat ${lab.actor(farmer).key}`);
      assert.notEqual(key.code, 0);
      assert.match(key.stderr, /Permission denied/, `the VM cannot read ${farmer}'s key`);
    }
    const refused = await ssh(lab, 'alice', other.path, vm.myceliumIp, 'true');
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /Permission denied/);
    const detail = await waitFor('the agent to report the VM up', async () => {
      const d = await adminGet<{ deployment: { vmUp: boolean; node: string } }>(lab, `/admin/api/deployments/${vm.id}`);
      return d.deployment.vmUp ? d : undefined;
    });
    vmNode = detail.deployment.node;
  });

  await t.test('a hello signed by another key than the one it claims is refused (4401)', async () => {
    const farmer1 = await agentOf(lab, 'farmer1');
    const out = await fixture(lab, 'farmer1', 'alice', 'node-farmer1', 'wrongkey', farmer1);
    assert.deepEqual(out[0]?.closed, 4401);
    assert.match(String(out[0]?.reason), /signature does not verify/);
  });

  await t.test('an approved key connecting from the wrong /64 is refused (4403)', async () => {
    const out = await fixture(lab, 'bob', 'farmer1', 'node-farmer1', 'hello');
    assert.equal(out[0]?.closed, 4403);
    assert.match(String(out[0]?.reason), /not a \/64 registered/);
    const nodes = await adminGet<NodesView>(lab, '/admin/api/nodes');
    assert.equal(nodes.nodes.find((n) => n.id === 'node-farmer1')?.connected, true, 'the real farmer1 agent was not displaced');
  });

  await t.test('an unapproved key waits for an admin; once approved, its forged, gapped and reordered chain is detected', async () => {
    const bob = await agentOf(lab, 'bob');
    const running = fixture(lab, 'bob', 'bob', 'node-bob', 'chain');
    const pending = await waitFor('bob to appear as a pending agent', async () => {
      const v = await adminGet<AgentsView>(lab, '/admin/api/agents');
      return v.agents.find((a) => a.agent === bob && a.state === 'pending');
    });
    assert.equal(pending.connected, false);
    const empty = await lab.curl('admin', 'POST', `/admin/api/agents/${bob}/approve`);
    assert.equal(empty.status, 400, 'an approval names what it approves');
    const approve = await lab.curl('admin', 'POST', `/admin/api/agents/${bob}/approve`, { nodes: ['node-bob'], subnets: [lab.actor('bob').subnet] });
    assert.equal(approve.status, 200, approve.text);
    const out = await running;
    assert.equal(out.find((o) => o.welcome)?.welcome, true, JSON.stringify(out));
    const seen = await waitFor('the disagreements to be counted', async () => {
      const v = await adminGet<AgentsView>(lab, '/admin/api/agents');
      const d = v.agents.find((a) => a.agent === bob)?.disagreements;
      return d && d.chainGap! >= 1 && d.chainMismatch! >= 2 && d.chainHeadMismatch! >= 1 ? d : undefined;
    });
    assert.ok(seen.chainGap! >= 1);
    const farmer1 = await agentOf(lab, 'farmer1');
    const honest = (await adminGet<AgentsView>(lab, '/admin/api/agents')).agents.find((a) => a.agent === farmer1);
    assert.deepEqual(Object.values(honest?.disagreements ?? { x: 1 }).reduce((a, b) => a + b, 0), 0, `an honest agent has no disagreements: ${JSON.stringify(honest?.disagreements)}`);
  });

  await t.test('kill -9 an agent: its node and VMs turn down; restarted, they come back', async () => {
    const farmer = vmNode.replace('node-', '');
    const stop = await lab.lab('stop', farmer, '--signal', 'KILL');
    assert.equal(stop.code, 0, stop.stderr);
    await waitFor('the node and the VM to count as down', async () => {
      const n = (await adminGet<NodesView>(lab, '/admin/api/nodes')).nodes.find((x) => x.id === vmNode);
      const d = await adminGet<{ deployment: { vmUp: boolean } }>(lab, `/admin/api/deployments/${vm.id}`);
      return n && !n.up && !d.deployment.vmUp ? true : undefined;
    });
    const start = await lab.lab('start', farmer);
    assert.equal(start.code, 0, start.stderr);
    await waitFor('the VM to be reported up again', async () => {
      const d = await adminGet<{ deployment: { vmUp: boolean } }>(lab, `/admin/api/deployments/${vm.id}`);
      return d.deployment.vmUp ? true : undefined;
    });
    assert.equal((await ssh(lab, 'alice', alice.path, vm.myceliumIp, 'echo back')).stdout.trim(), 'back');
  });

  await t.test('restart the gateway: agents reconnect by themselves, and heartbeats buffered meanwhile are replayed and counted', async () => {
    const stoppedAt = Date.now();
    assert.equal((await lab.lab('stop', 'gateway')).code, 0);
    await new Promise((r) => setTimeout(r, 3000));
    const restartedAt = Date.now();
    const started = await lab.lab('start', 'gateway');
    assert.equal(started.code, 0, started.stderr);
    const from = labMs(lab, stoppedAt);
    const to = labMs(lab, restartedAt);
    const inside = (p: { periodStart: string; periodSeconds: number }): boolean => Date.parse(p.periodStart) >= from && Date.parse(p.periodStart) + p.periodSeconds * 1000 <= to;
    const farmerNodes = (v: NodesView): NodesView['nodes'] => v.nodes.filter((n) => n.id === 'node-farmer1' || n.id === 'node-farmer2');
    const nodes = await waitFor('the periods of the outage to be closed', async () => {
      const v = farmerNodes(await adminGet<NodesView>(lab, '/admin/api/nodes'));
      return v.length === 2 && v.every((n) => n.periods.some(inside)) ? v : undefined;
    });
    for (const n of nodes) {
      for (const p of n.periods.filter(inside)) assert.ok(p.upSeconds >= 3400, `${n.id} ${p.periodStart}: ${p.upSeconds} s up while the gateway was down`);
    }
    for (const farmer of ['farmer1', 'farmer2']) {
      // The agent's log is written asynchronously (pino's sonic-boom): its reconnect line may land a moment after the gateway counted the replay.
      const reconnectOf = (): { msg: string; replayed?: number; time: string } | undefined =>
        readFileSync(lab.actor(farmer).log as string, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; replayed?: number; time: string })
          .filter((l) => l.msg === 'connected to the gateway' && Date.parse(l.time) >= restartedAt).pop();
      const reconnect = await waitFor(`${farmer}'s reconnect in its log`, () => reconnectOf(), 10_000).catch(() => undefined);
      assert.ok(reconnect && (reconnect.replayed ?? 0) > 10, `${farmer} replayed its buffered heartbeats (${JSON.stringify(reconnect)})`);
    }
  });
});
