// Issue 5 in the lab: an order waits for payment on the ledger, then a real VM is handed over; keys, delete, isolation, bad orders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../helpers/paths.js';
import { errorCode, startLab, waitFor, type TestLab, LAB_SKIP } from '../helpers/lab.js';
import { agentOf, fund, link, order, ssh, sshKey, waitOrder, type OrderView } from '../helpers/scenario.js';

/** VMs the farmers' agents run, read from their lab drivers' state files. */
function agentVms(lab: TestLab): string[] {
  const ids: string[] = [];
  for (const farmer of ['farmer1', 'farmer2']) {
    const path = join(lab.dir, farmer, 'state', 'vms', 'lab-vms.json');
    if (!existsSync(path)) continue;
    const state = JSON.parse(readFileSync(path, 'utf8')) as { vms?: Record<string, unknown> | Array<{ id: string }> };
    const vms = state.vms ?? {};
    ids.push(...(Array.isArray(vms) ? vms.map((v) => v.id) : Object.keys(vms)));
  }
  return ids;
}

test('buying a VM in the lab', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t);
  const { dir, remove } = scratchDir();
  t.after(remove);
  await link(lab, 'admin');
  await link(lab, 'alice');
  await link(lab, 'bob');
  const alice = await agentOf(lab, 'alice');
  const key1 = await sshKey(dir, 'key1');
  const key2 = await sshKey(dir, 'key2');
  let placed: OrderView;
  let active: OrderView & { deployment: NonNullable<OrderView['deployment']> };

  await t.test('offers show the grid sizes with real capacity from the connected agents', async () => {
    const r = await lab.curl('alice', 'GET', '/v1/offers');
    const offers = (r.json as { offers: Array<{ id: string; cpu: number; memoryGb: number; diskGb: number; pricePerHour: string; available: number }> }).offers;
    assert.deepEqual(offers.map((o) => [o.id, o.cpu, o.memoryGb, o.diskGb]), [['small', 1, 2, 25], ['medium', 2, 4, 50], ['large', 4, 16, 100]]);
    assert.equal(offers.find((o) => o.id === 'large')?.available, 8, 'two lab nodes of 16 vCPU / 64 GB / 800 GB hold 4 large VMs each');
    assert.match(offers[0]?.pricePerHour ?? '', /^\d+\.\d{6}$/);
  });

  await t.test('an order stays awaiting_payment while the agreement is not funded, and no VM exists', async () => {
    placed = await order(lab, 'alice', 'small', [key1.pub]);
    assert.equal(placed.state, 'awaiting_payment');
    assert.equal(placed.deposit, '1.200000', '24 hours of 0.05 SPORE');
    await new Promise((r) => setTimeout(r, 1500));
    const again = await waitOrder(lab, 'alice', placed.id, 'awaiting_payment');
    assert.equal((again as unknown as { payment: { lastCheck: { status: string } } }).payment.lastCheck.status, 'not_covered');
    assert.deepEqual(((await lab.curl('alice', 'GET', '/v1/deployments')).json as { deployments: unknown[] }).deployments, []);
    assert.deepEqual(agentVms(lab), []);
  });

  await t.test('funding less than the deposit is not enough', async () => {
    await fund(lab, alice, '1.000000');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await waitOrder(lab, 'alice', placed.id, 'awaiting_payment')).state, 'awaiting_payment');
    assert.deepEqual(agentVms(lab), []);
  });

  await t.test('once the agreement covers the deposit the order turns active, and the printed ssh command works', async () => {
    await fund(lab, alice, '0.5');
    active = (await waitOrder(lab, 'alice', placed.id, 'active')) as typeof active;
    assert.equal(active.deployment.ssh, `ssh root@${active.deployment.myceliumIp}`);
    assert.match(active.deployment.myceliumIp, /^[45][0-9a-f]{0,2}:[0-9a-f:]+:ff0f:/, 'a Mycelium address with ff0f in the fifth group');
    assert.deepEqual(agentVms(lab), [active.deployment.id]);
    const r = await ssh(lab, 'alice', key1.path, active.deployment.myceliumIp, 'echo handed-over');
    assert.equal(r.stdout.trim(), 'handed-over', r.stderr);
  });

  await t.test('another customer cannot see or touch the deployment (404)', async () => {
    const id = active.deployment.id;
    for (const [method, path, body] of [
      ['GET', `/v1/deployments/${id}`, undefined],
      ['PUT', `/v1/deployments/${id}/ssh-keys`, { sshKeys: [key2.pub] }],
      ['DELETE', `/v1/deployments/${id}`, undefined],
      ['GET', `/v1/orders/${placed.id}`, undefined],
      ['GET', `/v1/receipts?deployment=${id}`, undefined],
    ] as const) {
      const r = await lab.curl('bob', method, path, body);
      assert.equal(r.status, 404, `${method} ${path}: ${r.text}`);
      assert.equal(errorCode(r), 'not_found');
    }
    assert.deepEqual(((await lab.curl('bob', 'GET', '/v1/deployments')).json as { deployments: unknown[] }).deployments, []);
    assert.equal((await ssh(lab, 'alice', key1.path, active.deployment.myceliumIp, 'echo still-mine')).stdout.trim(), 'still-mine');
  });

  await t.test('putting other keys: the new key works and the old one stops working', async () => {
    const r = await lab.curl('alice', 'PUT', `/v1/deployments/${active.deployment.id}/ssh-keys`, { sshKeys: [key2.pub] });
    assert.equal(r.status, 200, r.text);
    assert.equal((await ssh(lab, 'alice', key2.path, active.deployment.myceliumIp, 'echo new-key')).stdout.trim(), 'new-key');
    const old = await ssh(lab, 'alice', key1.path, active.deployment.myceliumIp, 'true');
    assert.equal(old.code, 255);
    assert.match(old.stderr, /Permission denied/);
  });

  await t.test('bad orders get 400 naming the field, and create nothing', async () => {
    const before = ((await lab.curl('alice', 'GET', '/v1/orders')).json as { orders: unknown[] }).orders.length;
    const blob = key1.pub.split(' ')[1] as string;
    const cases: Array<[unknown, string]> = [
      [{ offer: 'huge', sshKeys: [key1.pub] }, 'offer'],
      [{ offer: 'small', sshKeys: ['ssh-ed25519 not-base64!'] }, 'sshKeys[0]'],
      [{ offer: 'small', sshKeys: [`ssh-rsa ${blob}`] }, 'sshKeys[0]'],
      [{ offer: 'small', sshKeys: [`ssh-ed25519 ${blob.slice(0, -8)}AAAAAAA=`] }, 'sshKeys[0]'],
      [{ offer: 'small', sshKeys: [] }, 'sshKeys'],
      [{ offer: 'small', sshKeys: Array.from({ length: 100 }, () => key1.pub) }, 'sshKeys'],
      [{ offer: 'small' }, 'sshKeys'],
      [{ offer: 'small', sshKeys: [key1.pub], name: 'Bad Name' }, 'name'],
      [{ offer: 'small', sshKeys: [key1.pub], colour: 'red' }, 'colour'],
    ];
    for (const [body, field] of cases) {
      const r = await lab.curl('alice', 'POST', '/v1/orders', body);
      assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
      assert.equal(errorCode(r), 'bad_request');
      assert.equal((r.json as { error: { field: string } }).error.field, field);
    }
    assert.equal(((await lab.curl('alice', 'GET', '/v1/orders')).json as { orders: unknown[] }).orders.length, before);
  });

  await t.test('DELETE ends the deployment and destroys the VM', async () => {
    const r = await lab.curl('alice', 'DELETE', `/v1/deployments/${active.deployment.id}`);
    assert.equal(r.status, 202, r.text);
    const d = (r.json as { deployment: { state: string; endReason: string } }).deployment;
    assert.equal(d.state, 'deprovisioned');
    assert.equal(d.endReason, 'cancelled');
    await waitFor('the agent to destroy the VM', () => (agentVms(lab).length === 0 ? true : undefined));
    const gone = await ssh(lab, 'alice', key2.path, active.deployment.myceliumIp, 'true', 2);
    assert.equal(gone.code, 255);
    const timeline = await lab.curl('admin', 'GET', `/admin/api/deployments/${active.deployment.id}`);
    const events = (timeline.json as { timeline: Array<{ event: string }> }).timeline.map((e) => e.event);
    for (const e of ['order.created', 'order.paid', 'deployment.active', 'deployment.ssh_keys', 'deployment.deprovisioned', 'deployment.destroyed']) assert.ok(events.includes(e), `${e} in ${events.join(', ')}`);
  });

  await t.test('GET /v1/balance shows the agreement, arrears and the low-funds flag', async () => {
    const r = await lab.curl('alice', 'GET', '/v1/balance');
    const b = r.json as { agent: string; unit: string; available: string; arrears: string; lowFunds: boolean };
    assert.equal(b.agent, alice);
    assert.equal(b.unit, 'SPORE');
    assert.match(b.available, /^\d+\.\d{6}$/);
    assert.ok(Number(b.available) <= 1.5);
    assert.equal(b.arrears, '0.000000');
  });
});
