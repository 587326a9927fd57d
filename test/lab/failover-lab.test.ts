// Issue 13 in the lab: two gateways on one PostgreSQL store; kill -9 the active one while alice is billed, again and again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReceiptV2 as Receipt } from '../../src/protocol/receipt.js';
import { scratchDir } from '../helpers/paths.js';
import { hypha } from '../helpers/run.js';
import { startLab, waitFor, LAB_SKIP, type TestLab } from '../helpers/lab.js';
import { adminGet, buyVm, link, sshKey } from '../helpers/scenario.js';
import { ledgerEntries, receiptsOf } from '../helpers/billing-scenario.js';

/** The lab's takeover bound (ha.takeoverSeconds): short, so three rounds fit in a few minutes. */
const TAKEOVER_SECONDS = 3;

interface GatewayRow {
  readonly name: string;
  readonly url: string;
  readonly role: 'active' | 'standby' | 'down';
}

/** `hypha lab status --json`: the gateways with their roles, and the state's `gateway` (which it points at the active one). */
async function status(lab: TestLab): Promise<{ gateway: { url: string }; gateways: GatewayRow[] }> {
  const r = await lab.lab('status', '--json');
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { gateway: { url: string }; gateways: GatewayRow[] };
}

test('--gateways 2 without --store postgres is refused, naming the option', async () => {
  const r = await hypha(['lab', 'up', '--detach', '--dir', '/nonexistent-hypha-lab', '--gateways', '2']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--gateways 2 needs --store postgres/);
});

test('two gateways in the lab: kill -9 the active one three times while alice is billed', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t, { hour: 1, extra: ['--store', 'postgres', '--gateways', '2', '--gateway-config', JSON.stringify({ ha: { takeoverSeconds: TAKEOVER_SECONDS } })] });
  const { dir, remove } = scratchDir();
  t.after(remove);

  const first = await status(lab);
  assert.deepEqual(first.gateways.map((g) => [g.name, g.role]), [['gateway', 'active'], ['gateway-2', 'standby']]);
  assert.equal(first.gateway.url, first.gateways[0]?.url, 'the state\'s gateway is the active one');
  const standbyAnswer = await lab.exec('alice', 'curl', ['-s', '-w', '\n%{http_code}', `${first.gateways[1]?.url}/v1/balance`]);
  assert.match(standbyAnswer.stdout, /"error":"standby"[\s\S]*\n503$/, 'the standby answers 503 standby to a customer');

  for (const a of ['admin', 'alice']) await link(lab, a);
  const key = await sshKey(dir, 'k');
  const vm = await buyVm(lab, 'alice', [key.pub], '50');
  const deploymentId = vm.deployment.id;
  await waitFor('billing to be under way', async () => ((await receiptsOf(lab, 'alice', deploymentId)).length >= 2 ? true : undefined));

  const killed: string[] = [];
  for (let round = 0; round < 3; round++) {
    // A random point of the lease round and of the billing period.
    await new Promise((r) => setTimeout(r, 200 + Math.floor(Math.random() * 1500)));
    const before = await status(lab);
    const active = before.gateways.find((g) => g.role === 'active');
    assert.ok(active, `round ${round}: one gateway is active`);
    assert.equal((await lab.lab('stop', active.name, '--signal', 'KILL')).code, 0);
    killed.push(active.name);
    const after = await waitFor(
      `round ${round}: the other gateway to take over`,
      async () => {
        const s = await status(lab);
        const now = s.gateways.find((g) => g.role === 'active');
        // Thrown, so a time-out names the roles last seen.
        if (!now) throw new Error(`no active gateway yet: ${s.gateways.map((g) => `${g.name} ${g.role}`).join(', ')}`);
        return { s, now };
      },
      TAKEOVER_SECONDS * 1000 + 25_000,
      200,
    );
    assert.notEqual(after.now.name, active.name, 'the killed gateway is not the active one');
    assert.equal(after.s.gateway.url, after.now.url, 'lab status points gateway at the new active one');
    assert.equal(lab.gw, after.now.url);
    // alice's requests work again, against the new active gateway.
    const d = await waitFor(`round ${round}: alice to see her deployment`, async () => {
      const r = await lab.curl('alice', 'GET', `/v1/deployments/${deploymentId}`);
      return r.status === 200 ? (r.json as { deployment: { state: string } }).deployment : undefined;
    });
    assert.equal(d.state, 'active');
    // The farmers' agents reconnect to it.
    await waitFor(`round ${round}: both nodes connected to the new active gateway`, async () => {
      const o = await adminGet<{ nodes: { list: Array<{ id: string; connected: boolean }> } }>(lab, '/admin/api/overview');
      return o.nodes.list.length === 2 && o.nodes.list.every((n) => n.connected) ? true : undefined;
    }, 30_000);
    // The killed one comes back as the standby.
    const restarted = await lab.lab('start', active.name);
    assert.equal(restarted.code, 0, restarted.stderr);
    const back = await status(lab);
    assert.equal(back.gateways.find((g) => g.name === active.name)?.role, 'standby');
  }
  assert.ok(killed.includes('gateway') && killed.includes('gateway-2'), 'each gateway was the active one and was killed at least once');

  // A few more periods after the last takeover, then the whole chain.
  const settled = (await receiptsOf(lab, 'alice', deploymentId)).length;
  await waitFor('billing to go on after the last takeover', async () => ((await receiptsOf(lab, 'alice', deploymentId)).length >= settled + 2 ? true : undefined), 30_000);
  const receipts = await receiptsOf(lab, 'alice', deploymentId);
  const file = join(dir, 'alice-receipts.json');
  writeFileSync(file, JSON.stringify(receipts));
  const verified = await hypha(['receipt', 'verify', file, '--gateway', lab.state().gateway.agent]);
  assert.equal(verified.code, 0, verified.stderr + verified.stdout);
  assert.equal(new Set(receipts.map((r) => r.id)).size, receipts.length, 'every receipt id is unique');
  for (let j = 1; j < receipts.length; j++) {
    assert.equal(receipts[j]?.periodStart, receipts[j - 1]?.periodEnd, `receipt ${j} starts where the one before ended: no gap, no overlap`);
  }
  const charged = receipts.filter((r: Receipt) => r.amount !== '0.000000');
  const charges = await waitFor('every charged receipt to be billed', async () => {
    const c = await ledgerEntries(lab, 'charge');
    return charged.every((r) => c.some((e) => (e.receiptIds as string[]).includes(r.id))) ? c : undefined;
  }, 30_000);
  const chargedIds = charges.flatMap((c) => c.receiptIds as string[]);
  assert.equal(new Set(chargedIds).size, chargedIds.length, 'no receipt was charged twice');
  const keys = charges.map((c) => c.key as string);
  assert.equal(new Set(keys).size, keys.length, 'no idempotency key was charged twice');

  // Nothing lost: the order and the deployment are there, as alice left them.
  const orders = await lab.curl('alice', 'GET', `/v1/orders/${vm.id}`);
  assert.equal(orders.status, 200, orders.text);
  const deployment = await lab.curl('alice', 'GET', `/v1/deployments/${deploymentId}`);
  assert.equal((deployment.json as { deployment: { state: string } }).deployment.state, 'active');
});
