// Issue 6 in the lab (--hour 1): kill -9 the gateway mid-run (no double charge, no lost receipt), and an unreachable ledger (no grace).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReceiptV2 as Receipt } from '../../src/protocol/receipt.js';
import { scratchDir } from '../helpers/paths.js';
import { hypha } from '../helpers/run.js';
import { startLab, waitFor, LAB_SKIP } from '../helpers/lab.js';
import { adminGet, buyVm, link, sshKey } from '../helpers/scenario.js';
import { ledgerEntries, receiptsOf } from '../helpers/billing-scenario.js';

test('crash safety and ledger outages in the lab', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t, { hour: 1 });
  const { dir, remove } = scratchDir();
  t.after(remove);
  for (const a of ['admin', 'alice', 'bob']) await link(lab, a);
  const key = await sshKey(dir, 'k');
  const vms = [await buyVm(lab, 'alice', [key.pub], '50'), await buyVm(lab, 'bob', [key.pub], '50')];
  const owners = ['alice', 'bob'];

  await t.test('kill -9 the gateway mid-run, again and again: every period is charged exactly once and no receipt is lost', async () => {
    await waitFor('billing to be under way', async () => ((await receiptsOf(lab, 'alice', vms[0]!.deployment.id)).length >= 2 ? true : undefined));
    for (const pause of [130, 370, 610, 90, 450]) {
      await new Promise((r) => setTimeout(r, pause));
      assert.equal((await lab.lab('stop', 'gateway', '--signal', 'KILL')).code, 0);
      const started = await lab.lab('start', 'gateway');
      assert.equal(started.code, 0, started.stderr);
    }
    await new Promise((r) => setTimeout(r, 3500));
    // On the PostgreSQL store (HYPHA_TEST_STORE=postgres) a restarted gateway is a standby (503) until
    // the lease its killed self held runs out (ha.takeoverSeconds): wait for it to serve again.
    await waitFor('the gateway to serve again', async () => ((await lab.curl('alice', 'GET', '/v1/balance')).status === 200 ? true : undefined), 60_000, 250);
    const all: Receipt[] = [];
    for (const [i, vm] of vms.entries()) {
      const receipts = await receiptsOf(lab, owners[i] as string, vm.deployment.id);
      all.push(...receipts);
      const file = join(dir, `chain-${i}.json`);
      writeFileSync(file, JSON.stringify(receipts));
      const verified = await hypha(['receipt', 'verify', file]);
      assert.equal(verified.code, 0, verified.stderr);
      for (let j = 1; j < receipts.length; j++) {
        assert.equal(receipts[j]?.periodStart, receipts[j - 1]?.periodEnd, `${vm.deployment.id}: receipt ${j} follows the one before with no period missing`);
      }
    }
    const charges = await waitFor('every charged receipt to be billed', async () => {
      const c = await ledgerEntries(lab, 'charge');
      const due = all.filter((r) => r.amount !== '0.000000' && c.some((e) => (e.receiptIds as string[]).includes(r.id)));
      return due.length === all.filter((r) => r.amount !== '0.000000').length ? c : undefined;
    });
    const keys = charges.map((c) => c.key as string);
    assert.equal(new Set(keys).size, keys.length, 'no idempotency key was charged twice');
    const charged = charges.flatMap((c) => c.receiptIds as string[]);
    assert.equal(new Set(charged).size, charged.length, 'no receipt was charged twice');
    const mine = new Set(all.map((r) => r.id));
    assert.equal(charged.filter((id) => mine.has(id)).length, all.filter((r) => r.amount !== '0.000000').length, 'one charge per charged receipt');
    const ledgerTotal = charges.filter((c) => (c.receiptIds as string[]).some((id) => mine.has(id))).reduce((s, c) => s + BigInt(c.amountMicros as string), 0n);
    const receiptTotal = all.reduce((s, r) => s + BigInt(Math.round(Number(r.amount) * 1e6)), 0n);
    assert.equal(ledgerTotal, receiptTotal, 'what the ledger debited is what the receipts say');
  });

  await t.test('with the ledger unreachable nobody enters grace; billing catches up when it is back', async () => {
    assert.equal((await lab.lab('stop', 'ledger')).code, 0);
    const down = await waitFor('admins to see the ledger error', async () => {
      const o = await adminGet<{ billing: { ledgerDown: string | null; errors: number } }>(lab, '/admin/api/overview');
      return o.billing.ledgerDown ? o : undefined;
    });
    assert.ok(down.billing.errors >= 1);
    await new Promise((r) => setTimeout(r, 3000));
    for (const [i, vm] of vms.entries()) {
      const d = ((await lab.curl(owners[i] as string, 'GET', `/v1/deployments/${vm.deployment.id}`)).json as { deployment: { state: string; arrears: string } }).deployment;
      assert.equal(d.state, 'active', 'an unreachable ledger is not an out-of-funds event');
      assert.equal(d.arrears, '0.000000');
    }
    const balance = await lab.curl('alice', 'GET', '/v1/balance');
    assert.equal(balance.status, 503);
    const unbilled = (await adminGet<{ receipts: Array<{ state: string }> }>(lab, `/admin/api/deployments/${vms[0]!.deployment.id}`)).receipts.filter((r) => r.state === 'issued');
    assert.ok(unbilled.length >= 2, 'receipts keep being issued while the ledger is away');
    assert.equal((await lab.lab('start', 'ledger')).code, 0);
    await waitFor('every receipt to be billed after the ledger is back', async () => {
      const d = await adminGet<{ receipts: Array<{ state: string }> }>(lab, `/admin/api/deployments/${vms[0]!.deployment.id}`);
      return d.receipts.every((r) => r.state === 'paid') ? true : undefined;
    });
    assert.deepEqual(await ledgerEntries(lab, 'refused'), [], 'no billing event was refused');
  });
});
