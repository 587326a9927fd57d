// Issue 16 in the lab: access escrow with real ssh — a login releases the held charges at once, a complaint without a login returns them (the farmer gets nothing), silence releases them when the window ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatAmount, parseAmount } from '../../src/protocol/money.js';
import type { ReceiptV2 } from '../../src/protocol/receipt.js';
import { scratchDir } from '../helpers/paths.js';
import { hypha } from '../helpers/run.js';
import { errorCode, startLab, waitFor, type TestLab, LAB_SKIP } from '../helpers/lab.js';
import { adminGet, buyVm, link, ssh, sshKey } from '../helpers/scenario.js';

interface AccessView {
  state: string;
  how?: string;
  loginKey?: string;
  held: string;
  returned: string;
  windowEndsAt: string;
}
interface DeploymentView {
  state: string;
  endReason?: string;
  charged: string;
  access?: AccessView;
}

async function deployment(lab: TestLab, actor: string, id: string): Promise<DeploymentView> {
  return ((await lab.curl(actor, 'GET', `/v1/deployments/${id}`)).json as { deployment: DeploymentView }).deployment;
}

async function receiptsOf(lab: TestLab, actor: string, id: string): Promise<ReceiptV2[]> {
  return ((await lab.curl(actor, 'GET', `/v1/receipts?deployment=${id}`)).json as { receipts: ReceiptV2[] }).receipts;
}

/** The embedded ledger's entries of one type that name one of `ids`, read from its journal. */
async function ledgerEntriesFor(lab: TestLab, type: string, ids: readonly string[]): Promise<Array<Record<string, unknown>>> {
  const r = await hypha(['ledger', 'entries', '--dir', join(lab.dir, 'ledger', 'data'), '--type', type]);
  assert.equal(r.code, 0, r.stderr);
  const wanted = new Set(ids);
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => (e.receiptIds as string[] | undefined)?.some((id) => wanted.has(id)) === true);
}

test('access escrow in the lab: login, complaint, silence', { skip: LAB_SKIP }, async (t) => {
  // A window of 15 lab hours (30 s): room for ssh and curl on a loaded machine before it ends.
  const lab = await startLab(t, { hour: 2, extra: ['--gateway-config', '{"escrow": {"windowHours": 15}}'] });
  const { dir, remove } = scratchDir();
  t.after(remove);
  for (const a of ['admin', 'alice', 'bob']) await link(lab, a);
  const aliceKey = await sshKey(dir, 'alice');
  const bobKey = await sshKey(dir, 'bob');
  const adminKey = await sshKey(dir, 'admin');
  const a = await buyVm(lab, 'alice', [aliceKey.pub], '20');
  const b = await buyVm(lab, 'bob', [bobKey.pub], '20');
  const s = await buyVm(lab, 'admin', [adminKey.pub], '20');

  await t.test('after handover access is pending and the first charges are held, not billed', async () => {
    const view = await deployment(lab, 'bob', b.deployment.id);
    assert.equal(view.state, 'active');
    assert.equal(view.access?.state, 'pending');
    const held = await waitFor('a held receipt', async () => (await receiptsOf(lab, 'bob', b.deployment.id)).find((r) => r.held === true && r.upSeconds > 0));
    assert.equal(held.escrow?.state, 'held');
    assert.equal((await deployment(lab, 'bob', b.deployment.id)).charged, '0.000000', 'nothing held is billed');
  });

  await t.test('a customer who logs in with ssh releases the hold at once', async () => {
    const login = await ssh(lab, 'alice', aliceKey.path, a.deployment.myceliumIp, 'echo in');
    assert.equal(login.code, 0, login.stderr);
    const view = await waitFor('alice\'s access verified by her login', async () => {
      const v = await deployment(lab, 'alice', a.deployment.id);
      return v.access?.state === 'verified' ? v : undefined;
    });
    assert.equal(view.access?.how, 'login', 'verified by the login, well before the window ends');
    assert.match(view.access?.loginKey ?? '', /^SHA256:/);
    const released = await waitFor('alice\'s held charges released and billed', async () => {
      const rs = await receiptsOf(lab, 'alice', a.deployment.id);
      const held = rs.filter((r) => r.held === true);
      return held.length > 0 && held.every((r) => r.escrow?.state === 'released' && r.escrow.how === 'login') ? held : undefined;
    });
    await waitFor('payouts for alice\'s released charges', async () => {
      const payouts = await ledgerEntriesFor(lab, 'payout', released.filter((r) => r.farmerShare !== '0.000000').map((r) => r.id));
      return payouts.length > 0 ? payouts : undefined;
    });
  });

  await t.test('bad reports are refused naming the field', async () => {
    const bad = await lab.curl('bob', 'POST', `/v1/deployments/${b.deployment.id}/access`, { ok: 'no' });
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { error: { field: string } }).error.field, 'ok');
    const noReason = await lab.curl('bob', 'POST', `/v1/deployments/${b.deployment.id}/access`, { ok: false });
    assert.equal(noReason.status, 400);
    assert.equal((noReason.json as { error: { field: string } }).error.field, 'reason');
    const notMine = await lab.curl('alice', 'POST', `/v1/deployments/${b.deployment.id}/access`, { ok: false, reason: 'x' });
    assert.equal(notMine.status, 404);
    const late = await lab.curl('alice', 'POST', `/v1/deployments/${a.deployment.id}/access`, { ok: false, reason: 'changed my mind' });
    assert.equal(late.status, 409, 'access already verified by a login');
    assert.equal(errorCode(late), 'conflict');
  });

  await t.test('a customer who never logs in and reports no access gets the held charges back; the farmer gets nothing', async () => {
    const r = await lab.curl('bob', 'POST', `/v1/deployments/${b.deployment.id}/access`, { ok: false, reason: 'ssh times out' });
    assert.equal(r.status, 200, r.text);
    const ended = (r.json as { deployment: DeploymentView }).deployment;
    assert.equal(ended.state, 'deprovisioned');
    assert.equal(ended.endReason, 'no_access');
    assert.equal(ended.access?.state, 'failed');
    const receipts = await waitFor('bob\'s final receipt, every charge returned', async () => {
      const rs = await receiptsOf(lab, 'bob', b.deployment.id);
      return rs.some((x) => x.final) && rs.every((x) => x.held === true && x.escrow?.state === 'returned') ? rs : undefined;
    });
    assert.ok(receipts.some((x) => x.amount !== '0.000000'), 'something was charged, and held');
    const ids = receipts.map((x) => x.id);
    assert.deepEqual(await ledgerEntriesFor(lab, 'charge', ids), [], 'no held charge was billed');
    assert.deepEqual(await ledgerEntriesFor(lab, 'payout', ids), [], "the farmer's payout for them is zero");
    const balance = (await lab.curl('bob', 'GET', '/v1/balance')).json as { available: string };
    assert.equal(balance.available, '20.000000', 'bob keeps every unit he paid in');
    const view = await deployment(lab, 'bob', b.deployment.id);
    assert.equal(view.access?.returned, formatAmount(receipts.reduce((sum, x) => sum + parseAmount('amount', x.amount), 0n)), 'the deployment shows what was returned');
    const file = join(dir, 'bob-receipts.json');
    writeFileSync(file, JSON.stringify(receipts));
    const verified = await hypha(['receipt', 'verify', file, '--gateway', lab.state().gateway.agent]);
    assert.equal(verified.code, 0, `returned receipts still verify offline: ${verified.stderr}`);
    const detail = await adminGet<{ deployment: DeploymentView; receipts: Array<{ state: string; escrow?: string }>; timeline: Array<{ event: string; detail: string }> }>(lab, `/admin/api/deployments/${b.deployment.id}`);
    const failed = detail.timeline.find((e) => e.event === 'deployment.access_failed');
    assert.ok(failed, 'the admin timeline says why it ended');
    assert.match(failed.detail, /ssh times out/);
    assert.ok(detail.timeline.some((e) => e.event === 'billing.escrow_returned'));
    assert.equal(detail.deployment.endReason, 'no_access');
    assert.ok(detail.receipts.every((x) => x.state === 'returned' && x.escrow === 'returned'), 'the admin sees each charge returned');
  });

  await t.test('a customer who says nothing releases the hold when the window ends', async () => {
    const view = await waitFor(
      'the window to end with the admin\'s VM up',
      async () => {
        const v = await deployment(lab, 'admin', s.deployment.id);
        return v.access?.state === 'verified' ? v : undefined;
      },
      90_000,
      500,
    );
    assert.equal(view.access?.how, 'window');
    const released = await waitFor('the admin\'s held charges released', async () => {
      const rs = (await receiptsOf(lab, 'admin', s.deployment.id)).filter((r) => r.held === true);
      return rs.length > 0 && rs.every((r) => r.escrow?.state === 'released' && r.escrow.how === 'window') ? rs : undefined;
    });
    await waitFor('payouts for the released charges', async () => {
      const payouts = await ledgerEntriesFor(lab, 'payout', released.filter((r) => r.farmerShare !== '0.000000').map((r) => r.id));
      return payouts.length > 0 ? payouts : undefined;
    });
  });
});
