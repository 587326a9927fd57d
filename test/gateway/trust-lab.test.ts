// Issue 16 in the lab: trust tiers — a new identity is refused a second VM with its tier's message, is allowed after paid history, and an admin's hand-set tier is audited.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scratchDir } from '../helpers/paths.js';
import { errorCode, startLab, waitFor, LAB_SKIP } from '../helpers/lab.js';
import { adminGet, agentOf, buyVm, link, sshKey } from '../helpers/scenario.js';

interface TrustView {
  tier: string;
  source: string;
  maxVms: number;
  vms: number;
  depositHours: number;
  paidHours: number;
  raisedBy: string | null;
}

// Two tiers: a new identity may hold 1 VM (deposit 48 h); after 3 paid VM-hours, 5 VMs (deposit 24 h).
const TIERS = { tiers: [{ name: 'new', maxVms: 1, depositHours: 48 }, { name: 'established', minPaidHours: 3, maxVms: 5, depositHours: 24 }] };

test('trust tiers in the lab: a second VM refused for a new identity, allowed after paid history; an admin override audited', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t, { hour: 2, extra: ['--gateway-config', JSON.stringify({ trust: TIERS })] });
  const { dir, remove } = scratchDir();
  t.after(remove);
  for (const a of ['admin', 'alice', 'bob']) await link(lab, a);
  const aliceKey = await sshKey(dir, 'alice');
  const bobKey = await sshKey(dir, 'bob');
  const trustOf = async (actor: string): Promise<TrustView> => ((await lab.curl(actor, 'GET', '/v1/balance')).json as { trust: TrustView }).trust;

  await t.test('a new identity: tier "new" on GET /v1/balance, deposit 48 h', async () => {
    const trust = await trustOf('alice');
    assert.equal(trust.tier, 'new');
    assert.equal(trust.maxVms, 1);
    assert.equal(trust.depositHours, 48);
    assert.match(trust.raisedBy ?? '', /established.*3 paid VM-hours \(you have 0\)/);
  });

  const first = await buyVm(lab, 'alice', [aliceKey.pub], '20');
  assert.equal(first.deposit, '2.400000', "the new tier's deposit: 48 h at 0.05/h");

  await t.test('a second VM is refused with the tier, the limit and what raises it', async () => {
    const r = await lab.curl('alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [aliceKey.pub] });
    assert.equal(r.status, 403, r.text);
    assert.equal(errorCode(r), 'trust_limit');
    const e = (r.json as { error: { message: string; hint: string; tier: string; limit: number; raisedBy: string } }).error;
    assert.equal(e.tier, 'new');
    assert.equal(e.limit, 1);
    assert.match(e.message, /trust tier "new" allows 1 VM\(s\) at once, and you have 1/);
    assert.match(e.raisedBy, /tier "established" \(5 VMs\) needs 3 paid VM-hours/);
  });

  await t.test('after paid history the tier rises and a second VM is allowed, at the new deposit', async () => {
    const trust = await waitFor(
      'three paid VM-hours',
      async () => {
        const v = await trustOf('alice');
        return v.tier === 'established' ? v : undefined;
      },
      60_000,
      500,
    );
    assert.equal(trust.source, 'history');
    assert.ok(trust.paidHours >= 3);
    const second = await lab.curl('alice', 'POST', '/v1/orders', { offer: 'small', sshKeys: [aliceKey.pub] });
    assert.equal(second.status, 201, second.text);
    assert.equal((second.json as { order: { deposit: string } }).order.deposit, '1.200000', "the established tier's deposit: 24 h");
  });

  await t.test('an admin sets a tier by hand: audited, shown, and it lifts the cap', async () => {
    await buyVm(lab, 'bob', [bobKey.pub], '20');
    const refused = await lab.curl('bob', 'POST', '/v1/orders', { offer: 'small', sshKeys: [bobKey.pub] });
    assert.equal(refused.status, 403);
    const bob = await agentOf(lab, 'bob');
    const noReason = await lab.curl('admin', 'PUT', `/admin/api/customers/${bob}/trust`, { tier: 'established' });
    assert.equal(noReason.status, 400);
    assert.equal((noReason.json as { error: { field: string } }).error.field, 'reason');
    const unknown = await lab.curl('admin', 'PUT', `/admin/api/customers/${bob}/trust`, { tier: 'gold', reason: 'x' });
    assert.equal(unknown.status, 400);
    assert.equal((unknown.json as { error: { field: string } }).error.field, 'tier');
    const notAdmin = await lab.curl('bob', 'PUT', `/admin/api/customers/${bob}/trust`, { tier: 'established', reason: 'me' });
    assert.equal(notAdmin.status, 403);
    const set = await lab.curl('admin', 'PUT', `/admin/api/customers/${bob}/trust`, { tier: 'established', reason: 'known customer' });
    assert.equal(set.status, 200, set.text);
    assert.equal((set.json as { trust: TrustView }).trust.source, 'admin');
    assert.equal((await trustOf('bob')).tier, 'established');
    const allowed = await lab.curl('bob', 'POST', '/v1/orders', { offer: 'small', sshKeys: [bobKey.pub] });
    assert.equal(allowed.status, 201, allowed.text);
    const detail = await adminGet<{ timeline: Array<{ event: string; detail: string }> }>(lab, `/admin/api/customers/${bob}`);
    const audit = detail.timeline.find((e) => e.event === 'customer.trust_tier_set');
    assert.ok(audit, 'the override is on the customer timeline');
    assert.match(audit.detail, /set the trust tier to "established" \(was "new"\): known customer/);
  });
});
