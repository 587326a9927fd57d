// Issue 17 in the lab: alice posts a capacity request, both lab farmers bid by their policies, she accepts the cheaper, pays, logs in and is billed the bid's price; a forged bid and requests nobody can serve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scratchDir } from '../helpers/paths.js';
import { errorCode, startLab, waitFor, LAB_SKIP } from '../helpers/lab.js';
import { agentOf, fund, link, ssh, sshKey, waitOrder, type OrderView } from '../helpers/scenario.js';
import { newIdentity } from '../../src/identity/index.js';
import { signBid, type SignedBid } from '../../src/protocol/bid.js';
import { parseAmount } from '../../src/protocol/money.js';

interface BidView extends SignedBid {
  validUntil: string;
  farmerRecord: { upPercent: string | null; periods: number; disputes: number };
}
interface RequestAnswer {
  request: { id: string; state: string; sentTo: number; note?: string; order?: string };
  bids: BidView[];
}

test('capacity requests and bids in the lab', { skip: LAB_SKIP }, async (t) => {
  const lab = await startLab(t);
  const { dir, remove } = scratchDir();
  t.after(remove);
  await link(lab, 'admin');
  await link(lab, 'alice');
  const alice = await agentOf(lab, 'alice');
  const key = await sshKey(dir, 'alice');
  let request: RequestAnswer;

  await t.test('alice posts a request; both farmers bid by their configured policies, cheapest first', async () => {
    const r = await lab.curl('alice', 'POST', '/v1/requests', { cpu: 1, memoryGb: 2, diskGb: 20, maxPricePerHour: '1', hours: 48, expiresInMinutes: 1440 });
    assert.equal(r.status, 201, r.text);
    const id = (r.json as RequestAnswer).request.id;
    assert.equal((r.json as RequestAnswer).request.sentTo, 2, 'both lab nodes can fit it');
    request = await waitFor('two bids', async () => {
      const a = (await lab.curl('alice', 'GET', `/v1/requests/${id}`)).json as RequestAnswer;
      return a.bids.length === 2 ? a : undefined;
    });
    // 1 vCPU * 0.01 + 2 GB * 0.002 + 20 GB * 0.0001 = 0.016 per hour; farmer1's margin is 10 %, farmer2's 25 % (src/lab/lab.ts labBidding).
    assert.deepEqual(request.bids.map((b) => [b.node, b.pricePerHour]), [['node-farmer1', '0.017600'], ['node-farmer2', '0.020000']]);
    assert.equal(request.request.state, 'open');
    for (const b of request.bids) {
      assert.equal(b.request, id);
      assert.equal(typeof b.farmerRecord.disputes, 'number', 'the farmer\'s record is shown next to the bid');
      assert.ok(Date.parse(b.validUntil) > Date.parse('2000-01-01'));
    }
  });

  await t.test('a forged bid is refused: a lowered price, or a bid signed by a key that is not the farmer\'s', async () => {
    const best = request.bids[0] as BidView;
    const { validUntil: _v, farmerRecord: _f, ...signed } = best;
    const lowered = await lab.curl('alice', 'POST', `/v1/requests/${request.request.id}/accept`, { bid: { ...signed, pricePerHour: '0.000001' }, sshKeys: [key.pub] });
    assert.equal(lowered.status, 400, lowered.text);
    assert.equal((lowered.json as { error: { field?: string } }).error.field, 'bid.signature');
    const stranger = newIdentity();
    const { signature: _s, ...statement } = signed;
    const resigned = signBid(stranger.secretKey, { ...statement, pricePerHour: '0.000001' });
    const forged = await lab.curl('alice', 'POST', `/v1/requests/${request.request.id}/accept`, { bid: resigned, sshKeys: [key.pub] });
    assert.equal(forged.status, 400, forged.text);
    assert.match(forged.text, /does not verify for farmer/);
    const orders = (await lab.curl('alice', 'GET', '/v1/orders')).json as { orders: unknown[] };
    assert.deepEqual(orders.orders, [], 'nothing was ordered');
  });

  let placed: OrderView & { pricePerHour: string; offer: string };
  await t.test('alice accepts the cheaper bid: an order at the bid\'s price, paid, handed over on the bid\'s node, and she logs in', async () => {
    const best = request.bids[0] as BidView;
    const { validUntil: _v, farmerRecord: _f, ...signed } = best;
    const r = await lab.curl('alice', 'POST', `/v1/requests/${request.request.id}/accept`, { bid: signed, sshKeys: [key.pub] });
    assert.equal(r.status, 201, r.text);
    placed = (r.json as { order: typeof placed }).order;
    assert.equal(placed.state, 'awaiting_payment');
    assert.equal(placed.pricePerHour, '0.017600');
    assert.equal(placed.deposit, '0.422400', '24 hours of the bid\'s price');
    const again = await lab.curl('alice', 'POST', `/v1/requests/${request.request.id}/accept`, { bid: signed, sshKeys: [key.pub] });
    assert.equal(again.status, 409, again.text);
    assert.equal(errorCode(again), 'conflict');
    const seen = (await lab.curl('alice', 'GET', `/v1/requests/${request.request.id}`)).json as RequestAnswer;
    assert.equal(seen.request.state, 'accepted');
    assert.equal(seen.request.order, placed.id);
    await fund(lab, alice, '1');
    const active = await waitOrder(lab, 'alice', placed.id, 'active');
    const dep = (await lab.curl('alice', 'GET', `/v1/deployments/${active.deployment?.id ?? ''}`)).json as { deployment: { node: string; myceliumIp: string; pricePerHour: string; bid?: { node: string } } };
    assert.equal(dep.deployment.node, 'node-farmer1');
    assert.equal(dep.deployment.pricePerHour, '0.017600');
    assert.equal(dep.deployment.bid?.node, 'node-farmer1');
    const login = await ssh(lab, 'alice', key.path, dep.deployment.myceliumIp, 'echo bid-vm');
    assert.equal(login.stdout.trim(), 'bid-vm', login.stderr);
  });

  await t.test('her receipts bill the bid\'s price', async () => {
    const depId = (await waitOrder(lab, 'alice', placed.id, 'active')).deployment?.id ?? '';
    const receipts = await waitFor('a receipt with up-time', async () => {
      const r = (await lab.curl('alice', 'GET', `/v1/receipts?deployment=${depId}`)).json as { receipts: Array<{ pricePerHour: string; upSeconds: number; amount: string; node: string }> };
      return r.receipts.some((x) => x.upSeconds > 0) ? r.receipts : undefined;
    }, 30_000);
    for (const x of receipts) {
      assert.equal(x.pricePerHour, '0.017600');
      assert.equal(x.node, 'node-farmer1');
      // amount = upSeconds * price / 3600, rounded down to a micro-unit (src/protocol/charge.ts)
      assert.equal(parseAmount('amount', x.amount), (BigInt(x.upSeconds) * 17_600n) / 3600n, `${x.amount} for ${x.upSeconds} s`);
    }
  });

  await t.test('a request nobody can fit gets no bids and expires with a clear state', async () => {
    const r = await lab.curl('alice', 'POST', '/v1/requests', { cpu: 1000, memoryGb: 2, diskGb: 20, maxPricePerHour: '1', expiresInMinutes: 60 });
    assert.equal(r.status, 201, r.text);
    const posted = r.json as RequestAnswer;
    assert.equal(posted.request.sentTo, 0);
    assert.match(posted.request.note ?? '', /no connected node can fit/);
    const expired = await waitFor('the request to expire', async () => {
      const a = (await lab.curl('alice', 'GET', `/v1/requests/${posted.request.id}`)).json as RequestAnswer;
      return a.request.state === 'expired' ? a : undefined;
    });
    assert.deepEqual(expired.bids, []);
    assert.equal(expired.request.note, 'no connected node could fit this request; it expired with no bids');
  });

  await t.test('a maximum under every farmer\'s price: sent, no bids, expires saying so', async () => {
    const r = await lab.curl('alice', 'POST', '/v1/requests', { cpu: 1, memoryGb: 2, diskGb: 20, maxPricePerHour: '0.000001', expiresInMinutes: 60 });
    assert.equal(r.status, 201, r.text);
    const posted = r.json as RequestAnswer;
    assert.equal(posted.request.sentTo, 2);
    const expired = await waitFor('the request to expire', async () => {
      const a = (await lab.curl('alice', 'GET', `/v1/requests/${posted.request.id}`)).json as RequestAnswer;
      return a.request.state === 'expired' ? a : undefined;
    });
    assert.deepEqual(expired.bids, []);
    assert.equal(expired.request.note, 'no farmer bid within the maximum price before the request expired');
  });

  await t.test('bad requests get a 400 naming the field; unlinked callers a 401', async () => {
    const table: Array<[unknown, string]> = [
      [{ cpu: 0, memoryGb: 2, diskGb: 20, maxPricePerHour: '1', expiresInMinutes: 5 }, 'cpu'],
      [{ cpu: 1, memoryGb: 2, diskGb: 20, maxPricePerHour: 0.5, expiresInMinutes: 5 }, 'maxPricePerHour'],
      [{ cpu: 1, memoryGb: 2, diskGb: 20, maxPricePerHour: '1' }, 'expiresInMinutes'],
      [{ cpu: 1, memoryGb: 2, diskGb: 20, maxPricePerHour: '1', expiresInMinutes: 5, farmers: ['nobody'] }, 'farmers[0]'],
      [{ cpu: 1, memoryGb: 2, diskGb: 20, maxPricePerHour: '1', expiresInMinutes: 5, colour: 'red' }, 'colour'],
    ];
    for (const [body, field] of table) {
      const r = await lab.curl('alice', 'POST', '/v1/requests', body);
      assert.equal(r.status, 400, `${field}: ${r.text}`);
      assert.equal((r.json as { error: { field?: string } }).error.field, field, r.text);
    }
    const stranger = await lab.curl('bob', 'POST', '/v1/requests', { cpu: 1, memoryGb: 2, diskGb: 20, maxPricePerHour: '1', expiresInMinutes: 5 });
    assert.equal(stranger.status, 401);
    const other = await lab.curl('bob', 'GET', `/v1/requests/${request.request.id}`);
    assert.equal(other.status, 401);
  });

  await t.test('the customer page and the admin status page show the requests and their bids', async () => {
    const open = await lab.curl('alice', 'POST', '/v1/requests', { cpu: 2, memoryGb: 4, diskGb: 40, maxPricePerHour: '1', expiresInMinutes: 1440 });
    assert.equal(open.status, 201, open.text);
    const id = (open.json as RequestAnswer).request.id;
    await waitFor('two bids', async () => (((await lab.curl('alice', 'GET', `/v1/requests/${id}`)).json as RequestAnswer).bids.length === 2 ? true : undefined));
    const page = await lab.curl('alice', 'GET', '/', undefined, { accept: 'text/html' });
    assert.equal(page.status, 200);
    assert.match(page.text, new RegExp(`${id}[\\s\\S]*data-bid-node="node-farmer1"[\\s\\S]*data-bid-node="node-farmer2"`), 'the open request lists both bids, cheapest first');
    assert.match(page.text, /0\.017600 SPORE\/h<\/strong> on node-farmer1/, 'the accepted request shows its bid');
    const admin = await lab.curl('admin', 'GET', '/admin', undefined, { accept: 'text/html' });
    assert.equal(admin.status, 200);
    assert.match(admin.text, new RegExp(`${id}[\\s\\S]*${alice}`));
    assert.match(admin.text, /no connected node could fit this request; it expired with no bids/);
  });

  await t.test('the admin lists every request with its bids', async () => {
    const r = await lab.curl('admin', 'GET', '/admin/api/requests');
    assert.equal(r.status, 200, r.text);
    const list = (r.json as { requests: Array<{ customer: string; request: { id: string; state: string } }> }).requests;
    assert.ok(list.some((x) => x.request.id === request.request.id && x.request.state === 'accepted' && x.customer === alice));
  });
});
