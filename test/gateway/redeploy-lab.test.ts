// Issue 17 in the lab: a VM with redeploy on comes back on the other farmer's node after its agent is SIGKILLed, the gap is not billed, a VM without it stays, and the old VM is destroyed when its node returns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../helpers/paths.js';
import { startLab, waitFor, LAB_SKIP, type TestLab } from '../helpers/lab.js';
import { adminGet, agentOf, fund, link, ssh, sshKey, waitOrder } from '../helpers/scenario.js';

interface Deployment {
  id: string;
  node: string;
  myceliumIp: string;
  state: string;
  redeploy?: { moves: number };
}
interface Detail {
  deployment: Deployment;
  timeline: Array<{ event: string; at: string; detail: string }>;
}

/** VM ids a farmer's lab driver runs, from its state file. */
function vmsOf(lab: TestLab, farmer: string): string[] {
  const path = join(lab.dir, farmer, 'state', 'vms', 'lab-vms.json');
  if (!existsSync(path)) return [];
  const vms = (JSON.parse(readFileSync(path, 'utf8')) as { vms?: Record<string, unknown> | Array<{ id: string }> }).vms ?? {};
  return Array.isArray(vms) ? vms.map((v) => v.id) : Object.keys(vms);
}

async function deployment(lab: TestLab, id: string): Promise<Deployment> {
  return ((await lab.curl('alice', 'GET', `/v1/deployments/${id}`)).json as { deployment: Deployment }).deployment;
}

test('redeploy when a node dies, in the lab', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t);
  const { dir, remove } = scratchDir();
  t.after(remove);
  await link(lab, 'admin');
  await link(lab, 'alice');
  const alice = await agentOf(lab, 'alice');
  const key = await sshKey(dir, 'alice');

  // Placement is "most room first, then node id": the first small VM goes to node-farmer1. The
  // second is pinned there by a bid (only node-farmer1 is asked), so both run on the node that dies.
  const moving = await lab.curl('alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [key.pub], redeploy: true });
  assert.equal(moving.status, 201, moving.text);
  const movingOrder = (moving.json as { order: { id: string } }).order.id;
  await fund(lab, alice, '5');
  const movingDep = (await waitOrder(lab, 'alice', movingOrder, 'active')).deployment?.id ?? '';
  const req = await lab.curl('alice', 'POST', '/v1/requests', { cpu: 1, memoryGb: 2, diskGb: 20, maxPricePerHour: '1', nodes: ['node-farmer1'], expiresInMinutes: 1440 });
  assert.equal(req.status, 201, req.text);
  const reqId = (req.json as { request: { id: string } }).request.id;
  const bid = await waitFor('a bid from node-farmer1', async () => {
    const a = (await lab.curl('alice', 'GET', `/v1/requests/${reqId}`)).json as { bids: Array<Record<string, unknown>> };
    return a.bids[0];
  });
  const { validUntil: _v, farmerRecord: _f, ...signed } = bid;
  const staying = await lab.curl('alice', 'POST', `/v1/requests/${reqId}/accept`, { bid: signed, sshKeys: [key.pub] });
  assert.equal(staying.status, 201, staying.text);
  const stayingDep = (await waitOrder(lab, 'alice', (staying.json as { order: { id: string } }).order.id, 'active')).deployment?.id ?? '';
  const before = await deployment(lab, movingDep);
  const stayingBefore = await deployment(lab, stayingDep);
  assert.equal(before.node, 'node-farmer1');
  assert.equal(stayingBefore.node, 'node-farmer1');
  assert.deepEqual(before.redeploy, { moves: 0 });
  assert.equal(stayingBefore.redeploy, undefined, 'redeploy is opt-in');
  assert.equal((await ssh(lab, 'alice', key.path, before.myceliumIp, 'echo first')).stdout.trim(), 'first');

  await t.test('SIGKILL farmer1\'s agent: after the threshold the VM comes back on farmer2\'s node and alice logs in at the new address', async () => {
    const stop = await lab.lab('stop', 'farmer1', '--signal', 'KILL');
    assert.equal(stop.code, 0, stop.stderr);
    const after = await waitFor('the VM to move', async () => {
      const d = await deployment(lab, movingDep);
      return d.node !== before.node ? d : undefined;
    }, 60_000, 250);
    assert.equal(after.node, 'node-farmer2');
    assert.equal(after.state, 'active');
    assert.notEqual(after.myceliumIp, before.myceliumIp);
    assert.deepEqual(after.redeploy, { moves: 1 });
    const login = await waitFor('ssh to the new address', async () => {
      const r = await ssh(lab, 'alice', key.path, after.myceliumIp, 'echo moved');
      return r.code === 0 ? r : undefined;
    });
    assert.equal(login.stdout.trim(), 'moved');
    const detail = await adminGet<Detail>(lab, `/admin/api/deployments/${movingDep}`);
    const moved = detail.timeline.find((e) => e.event === 'deployment.redeployed');
    assert.ok(moved, 'the timeline has the move');
    assert.match(moved.detail, new RegExp(`ssh root@${after.myceliumIp.replace(/[.:]/g, '\\$&')}`));
  });

  await t.test('with redeploy off nothing moves', async () => {
    const d = await deployment(lab, stayingDep);
    assert.equal(d.node, 'node-farmer1');
    assert.equal(d.myceliumIp, stayingBefore.myceliumIp);
    const detail = await adminGet<Detail>(lab, `/admin/api/deployments/${stayingDep}`);
    assert.equal(detail.timeline.filter((e) => e.event.startsWith('deployment.redeploy')).length, 0);
  });

  await t.test('no period is billed for the gap, and billing continues on the new VM', async () => {
    const detail = await adminGet<Detail>(lab, `/admin/api/deployments/${movingDep}`);
    const movedAtMs = Date.parse(detail.timeline.find((e) => e.event === 'deployment.redeployed')?.at ?? '');
    const agents = await adminGet<{ agents: Array<{ agent: string; nodes: string[] }> }>(lab, '/admin/api/agents');
    const farmer1 = agents.agents.find((a) => a.nodes.includes('node-farmer1'))?.agent ?? '';
    const events = await adminGet<{ events: Array<{ event: string; at: string; agent?: string; detail: string }> }>(lab, '/admin/api/events?prefix=agent.disconnected');
    const kill = events.events.filter((e) => e.agent === farmer1).sort((a, b) => Date.parse(a.at) - Date.parse(b.at)).at(-1);
    assert.ok(kill, "farmer1's disconnect is in the timeline");
    const killedAtMs = Date.parse(kill.at);
    // The 30 min count from the VM's last "up" evidence, the agent's last heartbeat, whose own stamp
    // the disconnect names (on a loaded host it can be several lab heartbeats before the kill).
    const lastStampMs = Date.parse(/last heartbeat was stamped (\S+)$/.exec(kill.detail)?.[1] ?? '');
    assert.ok(lastStampMs <= killedAtMs, `the disconnect names the last heartbeat: ${kill.detail}`);
    assert.ok(movedAtMs - lastStampMs >= 30 * 60_000, `moved ${(movedAtMs - lastStampMs) / 60_000} min after the last heartbeat, sooner than the 30 min threshold`);
    const heartbeatMs = 180_000;
    type Receipt = { periodStart: string; periodEnd: string; upSeconds: number; node: string };
    const receipts = await waitFor('a receipt from the new node with up-time', async () => {
      const r = (await lab.curl('alice', 'GET', `/v1/receipts?deployment=${movingDep}`)).json as { receipts: Receipt[] };
      return r.receipts.some((x) => x.node === 'node-farmer2' && x.upSeconds > 0 && Date.parse(x.periodStart) >= movedAtMs) ? r.receipts : undefined;
    }, 60_000);
    // Up-seconds billed between the kill and the move: every receipt's up-time is at most its period's
    // length outside [killed + 3 heartbeats, moved] (the shared up-time rule credits an "up" for 3 intervals).
    const gapFrom = killedAtMs + 3 * heartbeatMs;
    for (const x of receipts) {
      const start = Date.parse(x.periodStart);
      const end = Date.parse(x.periodEnd);
      const overlap = Math.max(0, Math.min(end, movedAtMs) - Math.max(start, gapFrom));
      assert.ok(x.upSeconds * 1000 <= end - start - overlap, `period ${x.periodStart} bills ${x.upSeconds} s, but ${overlap / 1000} s of it were in the gap`);
    }
    const inGap = receipts.filter((x) => Date.parse(x.periodStart) >= gapFrom && Date.parse(x.periodEnd) <= movedAtMs);
    for (const x of inGap) assert.equal(x.upSeconds, 0, `period ${x.periodStart} lies in the gap`);
  });

  await t.test('when farmer1 comes back, the VM left there is destroyed and the other one keeps running', async () => {
    assert.ok(vmsOf(lab, 'farmer1').includes(movingDep), 'the old VM is still in farmer1\'s state while its node is dead');
    const start = await lab.lab('start', 'farmer1');
    assert.equal(start.code, 0, start.stderr);
    await waitFor('the old VM to be destroyed', async () => {
      const detail = await adminGet<Detail>(lab, `/admin/api/deployments/${movingDep}`);
      return detail.timeline.some((e) => e.event === 'deployment.previous_vm_destroyed') ? true : undefined;
    }, 60_000, 250);
    assert.ok(!vmsOf(lab, 'farmer1').includes(movingDep));
    assert.ok(vmsOf(lab, 'farmer1').includes(stayingDep));
    const moved = await deployment(lab, movingDep);
    assert.equal(moved.node, 'node-farmer2', 'the VM stays where it moved');
    assert.equal((await ssh(lab, 'alice', key.path, moved.myceliumIp, 'echo still')).stdout.trim(), 'still');
  });
});
