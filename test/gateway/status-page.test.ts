// The status page without a lab: the escape helper, rendering from the admin views (hostile values escaped), the CSP hashes, search, and the routes over loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { Router } from '../../src/gateway/http/router.js';
import { pino } from 'pino';
import { escapeHtml, html } from '../../src/gateway/render/html.js';
import { adminPath } from '../../src/gateway/admin/admin-path.js';
import { customerDetail, deploymentDetail, overview, type AdminSources } from '../../src/gateway/admin/admin-views.js';
import { CONTENT_SECURITY_POLICY, renderCustomer, renderDeployment, renderDocument, renderOverview, revenueChart } from '../../src/gateway/admin/status-page-render.js';
import { PAGE_HEADERS, registerAdminPageRoutes, searchTarget } from '../../src/gateway/admin/status-page.js';
import { errorMiddleware } from '../../src/gateway/http/error-middleware.js';
import type { Principal } from '../../src/gateway/http/principal.js';
import { LedgerUnavailableError, type Ledger } from '../../src/gateway/ledger/ledger.js';
import type { ReceiptEntry } from '../../src/gateway/billing/receipt-types.js';
import type { Receipt } from '../../src/protocol/receipt.js';
import type { TimelineEvent } from '../../src/gateway/events/event-log.js';
import type { DeploymentRecord, LinkRecord, OrderRecord } from '../../src/gateway/store/records.js';

const EVIL = '<script>alert(1)</script>';
const EVIL_ATTR = '"><img src=x onerror=alert(2)>';
const ALICE = 'uhCAkAliceAliceAliceAliceAliceAliceAliceAliceAliceAlic';
const BOB = 'uhCAkBobBobBobBobBobBobBobBobBobBobBobBobBobBobBobBobBo';
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const HOUR = 3_600_000;

test('escapeHtml escapes the five characters that matter, and only them', () => {
  const cases: Array<[Parameters<typeof escapeHtml>[0], string]> = [
    [EVIL, '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['a & b', 'a &amp; b'],
    ['"double" \'single\'', '&quot;double&quot; &#39;single&#39;'],
    ['&amp;', '&amp;amp;'],
    ['uhCAk-_x 400::1/64 0.050000', 'uhCAk-_x 400::1/64 0.050000'],
    ['', ''],
    [null, ''],
    [undefined, ''],
    [42, '42'],
    [10n ** 20n, '100000000000000000000'],
    [true, 'true'],
  ];
  for (const [input, expected] of cases) assert.equal(escapeHtml(input), expected, String(input));
});

test('html`` escapes every value, keeps nested html, renders arrays, refuses objects', () => {
  assert.equal(html`<p title="${EVIL_ATTR}">${EVIL}</p>`.text, '<p title="&quot;&gt;&lt;img src=x onerror=alert(2)&gt;">&lt;script&gt;alert(1)&lt;/script&gt;</p>');
  const inner = html`<b>${'<i>'}</b>`;
  assert.equal(html`<p>${inner}</p>`.text, '<p><b>&lt;i&gt;</b></p>', 'nested markup is not escaped twice');
  assert.equal(html`<ul>${['<a>', html`<li>ok</li>`]}</ul>`.text, '<ul>&lt;a&gt;<li>ok</li></ul>');
  assert.equal(html`${false}${null}${undefined}|${0}`.text, '|0');
  assert.throws(() => html`${{ a: 1 }}`, TypeError);
  assert.throws(() => html`${() => 1}`, TypeError);
  assert.equal(adminPath('deployments', '../x?y#<z>'), '/admin/deployments/..%2Fx%3Fy%23%3Cz%3E');
});

test('the CSP names the exact hashes of the inline style and script, and nothing inline else', () => {
  const doc = renderDocument(html`<p>hi</p>`, { title: 'T', refresh: true });
  const script = /<script>([\s\S]*?)<\/script>/.exec(doc)?.[1];
  const style = /<style>([\s\S]*?)<\/style>/.exec(doc)?.[1];
  assert.ok(script && style);
  const hash = (s: string): string => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
  assert.ok(CONTENT_SECURITY_POLICY.includes(`script-src ${hash(script)}`), 'the script hash matches');
  assert.ok(CONTENT_SECURITY_POLICY.includes(`style-src ${hash(style)}`), 'the style hash matches');
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|\*/);
  assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
  assert.match(CONTENT_SECURITY_POLICY, /connect-src 'self'/);
  assert.equal((doc.match(/<script/g) ?? []).length, 1);
  assert.doesNotMatch(doc, / on[a-z]+=/, 'no inline event handlers (the CSP would block them)');
  assert.match(doc, /<noscript><meta http-equiv="refresh" content="10"><\/noscript>/);
  const still = renderDocument(html`<p>hi</p>`, { title: 'T', refresh: false, query: EVIL });
  assert.doesNotMatch(still, /<script|http-equiv="refresh"/, 'search results and errors do not refresh');
  assert.ok(still.includes(`value="${escapeHtml(EVIL)}"`), 'the query is shown escaped');
});

test('the revenue chart scales bars by integer amounts, and says when nothing was billed', () => {
  assert.match(revenueChart([], 'SPORE').text, /No period has been billed yet/);
  const svg = revenueChart(
    [
      { periodStart: '2026-01-01T00:00:00.000Z', charged: '0.100000', farmerShares: '0.090000', paidOut: '0.090000', arrears: '0.000000', receipts: 2 },
      { periodStart: '2026-01-01T01:00:00.000Z', charged: '0.050000', farmerShares: '0.045000', paidOut: '0.000000', arrears: '0.050000', receipts: 2 },
    ],
    'SPORE',
  ).text;
  const heights = [...svg.matchAll(/<rect class="bar-(charged|paid)" x="\d+" y="\d+" width="8" height="(\d+)"><title>/g)].map((m) => `${m[1]}:${m[2]}`);
  assert.deepEqual(heights, ['charged:120', 'paid:108', 'charged:60', 'paid:0']);
  assert.match(svg, /role="img"/);
  assert.match(svg, /charged 0\.100000 SPORE/);
});

/** A fake of the AdminSources port with one deprovisioned, one in-grace and one active deployment, and hostile text in places a farmer or customer could influence. */
function fakeSources(): AdminSources {
  const deployment = (id: string, customer: string, extra: Partial<DeploymentRecord>): DeploymentRecord => ({
    id,
    order: `ord_${id}`,
    customer,
    offer: 'small',
    name: EVIL,
    pricePerHour: '0.050000',
    unit: 'SPORE',
    sshKeys: ['ssh-ed25519 AAAA'],
    provisioner: 'agent',
    node: 'node-farmer1',
    farmer: 'uhCAkFarmer',
    myceliumIp: '4ab:1::ff0f:1',
    vmRef: {},
    state: 'active',
    createdAtMs: T0,
    activatedAtMs: T0,
    ...extra,
  });
  const deployments = [
    deployment('dep_gone', BOB, { state: 'deprovisioned', endedAtMs: T0 + 10 * HOUR, endReason: 'out_of_funds', destroyed: true }),
    deployment('dep_grace', BOB, { state: 'grace', graceSinceMs: T0 + 5 * HOUR, graceUntilMs: T0 + 77 * HOUR, paused: true }),
    deployment('dep_ok', ALICE, {}),
  ];
  const order = (d: DeploymentRecord): OrderRecord => ({ id: d.order, customer: d.customer, offer: 'small', name: d.name, sshKeys: d.sshKeys, pricePerHour: d.pricePerHour, deposit: '1.200000', unit: 'SPORE', state: 'active', createdAtMs: T0 - HOUR, expiresAtMs: T0 + 720 * HOUR, paidAtMs: T0 - HOUR / 2, deployment: d.id, attempts: [] });
  const orders = [...deployments.map(order), { ...order(deployments[2] as DeploymentRecord), id: 'ord_unpaid', state: 'awaiting_payment' as const, deployment: undefined }];
  const links: LinkRecord[] = [
    { subnet: '4ab:cd::/64', agent: ALICE, address: '4ab:cd::1', linkedAtMs: T0 - 2 * HOUR, nonce: 'NONCE-SECRET', statement: 'STATEMENT-SECRET', signature: 'SIGNATURE-SECRET' },
    { subnet: '5ab:ef::/64', agent: BOB, address: '5ab:ef::1', linkedAtMs: T0 - 2 * HOUR, nonce: 'NONCE-SECRET', statement: 'STATEMENT-SECRET', signature: 'SIGNATURE-SECRET' },
  ];
  const events: TimelineEvent[] = [
    { atMs: T0 - HOUR, event: 'order.created', detail: `ordered small; ${EVIL}`, order: 'ord_dep_gone', customer: BOB },
    { atMs: T0 - HOUR / 2, event: 'order.paid', detail: 'agreement holds 1.200000 SPORE, covering 1.200000', order: 'ord_dep_gone', customer: BOB },
    { atMs: T0, event: 'deployment.active', detail: 'handed over', deployment: 'dep_gone', customer: BOB, node: 'node-farmer1' },
    { atMs: T0 + 2 * HOUR, event: 'deployment.grace', detail: 'funds ran out: 0.050000 SPORE of charges could not be paid', deployment: 'dep_gone', customer: BOB },
    { atMs: T0 + 10 * HOUR, event: 'deployment.deprovisioned', detail: 'the grace period ended with 0.050000 SPORE unpaid (endReason out_of_funds)', deployment: 'dep_gone', customer: BOB },
    { atMs: T0 + 5 * HOUR, event: 'deployment.grace', detail: 'funds ran out again', deployment: 'dep_grace', customer: BOB },
    { atMs: T0 + 6 * HOUR, event: 'agent.probe_disagreement', detail: `agent says up, probe says down ${EVIL_ATTR}`, agent: 'uhCAkFarmer', node: 'node-farmer1' },
  ];
  const receipt = (id: string, deploymentId: string, state: ReceiptEntry['state'], startMs: number): ReceiptEntry => ({
    receipt: { id, deployment: deploymentId, customer: BOB, periodStart: new Date(startMs).toISOString(), periodEnd: new Date(startMs + HOUR).toISOString(), issuedAt: new Date(startMs + HOUR).toISOString(), upSeconds: 3600, amount: '0.050000', farmerShare: '0.045000', unit: 'SPORE', final: false } as unknown as Receipt,
    hash: '00'.repeat(32),
    periodStartMs: startMs,
    key: `${deploymentId}:${startMs}`,
    amountMicros: 50_000n,
    farmerShareMicros: 45_000n,
    state,
    paidOut: state === 'paid',
    ...(state === 'paid' ? { farmerSignature: 'c2ln' } : {}),
  });
  const receipts: Record<string, ReceiptEntry[]> = { dep_gone: [receipt('rcp_1', 'dep_gone', 'paid', T0), receipt('rcp_2', 'dep_gone', 'arrears', T0 + HOUR)] };
  const about = (kind: string, id: string): TimelineEvent[] => events.filter((e) => (kind === 'deployment' ? e.deployment : kind === 'order' ? e.order : kind === 'customer' ? e.customer : kind === 'agent' ? e.agent : e.node) === id);
  return {
    nowMs: () => T0 + 11 * HOUR,
    nodes: () => [
      { id: 'node-farmer1', farmer: 'uhCAkFarmer', connected: true, up: true, lastHeartbeatAtMs: T0 + 11 * HOUR - 15_000 },
      { id: `node-${EVIL}`, farmer: 'uhCAkFarmer2', connected: false, up: false },
    ],
    agents: () => [{ agent: 'uhCAkFarmer', address: '4cd::1', nodes: [{ id: 'node-farmer1' }] as never, connectedAtMs: T0, lastHeartbeatAtMs: T0 + 11 * HOUR - 15_000, seq: 9 }],
    approvals: () => [],
    deployments: () => deployments,
    orders: () => orders,
    links: () => links,
    totals: (id) => (id === 'dep_gone' ? { upSeconds: 7200, chargedMicros: 100_000n, arrearsMicros: 50_000n } : { upSeconds: 3600, chargedMicros: 50_000n, arrearsMicros: id === 'dep_grace' ? 50_000n : 0n }),
    receipts: (id) => Promise.resolve(receipts[id] ?? []),
    periodTotals: () => [[T0, { chargedMicros: 150_000n, farmerSharesMicros: 135_000n, paidOutMicros: 90_000n, arrearsMicros: 50_000n, receipts: 3 }]],
    arrearsOf: (c) => (c === BOB ? 100_000n : 0n),
    lowFunds: () => new Set([BOB]),
    billing: () => ({ lastRunAtMs: T0 + 11 * HOUR, lastError: null, ledgerDown: null, closedThroughMs: T0 + 11 * HOUR }),
    eventsAbout: (kind, id) => about(kind, id),
    recentEvents: (prefix, n) => events.filter((e) => e.event.startsWith(prefix)).reverse().slice(0, n),
    countEvents: (prefix) => events.filter((e) => e.event.startsWith(prefix)).length,
    isVmUp: (id) => id === 'dep_ok',
  };
}

test('the overview renders the overview() numbers, escapes hostile values, and shows grace and out-of-funds', () => {
  const s = fakeSources();
  const v = overview(s);
  const out = renderOverview(v, { deployments: [], recentEvents: [] }).text;
  const stat = (key: string): string | undefined => new RegExp(`data-stat="${key.replace('.', '\\.')}">([^<]*)<`).exec(out)?.[1];
  assert.equal(stat('nodes.up'), '1');
  assert.equal(stat('nodes.down'), '1');
  assert.equal(stat('deployments.active'), '1');
  assert.equal(stat('deployments.grace'), '1');
  assert.equal(stat('deployments.deprovisioned'), '1');
  assert.equal(stat('customers.total'), '2');
  assert.equal(stat('customers.inGrace'), '1');
  assert.equal(stat('customers.outOfFunds'), '1');
  assert.equal(stat('customers.lowFunds'), '1');
  assert.equal(stat('revenue.total'), '0.150000');
  assert.equal(stat('payouts.total'), '0.090000');
  assert.equal(stat('disagreements.probe'), '1');
  assert.match(out, /<table id="grace">[\s\S]*dep_grace[\s\S]*2026-01-04 05:00:00Z/, 'grace lists the deployment with its graceUntil');
  assert.match(out, /<table id="out-of-funds">[\s\S]*dep_gone/);
  assert.match(out, /15 s ago/, 'the agent\'s heartbeat age');
  assert.ok(!out.includes(EVIL) && !out.includes('<img src=x'), 'hostile text never becomes markup');
  assert.ok(out.includes(escapeHtml(`node-${EVIL}`)), 'the hostile node id is shown, escaped');
  assert.ok(out.includes(encodeURIComponent(`node-${EVIL}`)), 'and its link is URL-encoded');
});

test('the deployment page answers "why was it deprovisioned?" and lists payment, receipts and timeline', async () => {
  const s = fakeSources();
  const d = s.deployments().find((x) => x.id === 'dep_gone') as DeploymentRecord;
  const out = renderDeployment(await deploymentDetail(s, d)).text;
  const outcome = /<div class="note bad" id="outcome">([\s\S]*?)<\/div>/.exec(out)?.[1] ?? '';
  assert.match(outcome, /Deprovisioned/);
  assert.match(outcome, /out_of_funds/);
  assert.match(outcome, /the grace period ended with 0\.050000 SPORE unpaid/);
  assert.match(outcome, /Grace had started at <time datetime="2026-01-01T02:00:00.000Z">/);
  assert.match(out, /<table id="payment"[\s\S]*order\.paid[\s\S]*<\/table>/);
  assert.match(out, /<tr data-receipt-state="paid">[\s\S]*rcp_1/);
  assert.match(out, /<tr data-receipt-state="arrears">[\s\S]*rcp_2[\s\S]*unpaid \(arrears\)/);
  assert.match(out, /<table id="lifecycle"[\s\S]*deployment\.grace[\s\S]*deployment\.deprovisioned/);
  assert.ok(!out.includes(EVIL), 'the hostile VM name and order detail are escaped');
  assert.ok(out.includes(escapeHtml(EVIL)));
});

test('the customer page answers "did the funds run out, and when?" and never shows link evidence', async () => {
  const s = fakeSources();
  const bob = renderCustomer(await customerDetail(s, BOB, { available: '0.000000' })).text;
  assert.match(bob, /Funds ran out<\/strong> 2 times: first at <time datetime="2026-01-01T02:00:00.000Z">/);
  assert.match(bob, /dep_grace<\/a> is in grace until <time datetime="2026-01-04T05:00:00.000Z">/);
  assert.match(bob, /dep_gone<\/a> was deprovisioned for lack of funds/);
  assert.match(bob, /data-field="arrears">0\.100000 SPORE/);
  const alice = renderCustomer(await customerDetail(s, ALICE, { error: 'the ledger cannot be reached: timeout' })).text;
  assert.match(alice, /Funds have not run out/);
  assert.match(alice, /unknown: the ledger cannot be reached: timeout/);
  for (const page of [bob, alice]) assert.doesNotMatch(page, /SECRET/, 'no link nonce, statement or signature');
});

test('search finds deployments, orders, customers, nodes and linked addresses', () => {
  const s = fakeSources();
  const cases: Array<[string, string | null]> = [
    ['dep_grace', '/admin/deployments/dep_grace'],
    ['ord_dep_gone', '/admin/deployments/dep_gone'],
    ['ord_unpaid', `/admin/customers/${ALICE}`],
    [BOB, `/admin/customers/${BOB}`],
    ['node-farmer1', '/admin/nodes/node-farmer1'],
    ['5ab:ef::1', `/admin/customers/${BOB}`],
    ['5ab:ef:0:0:1234::9', `/admin/customers/${BOB}`],
    ['4ab:cd::/64', `/admin/customers/${ALICE}`],
    ['dep_nope', null],
    ['4ab:ce::1', null],
    [EVIL, null],
  ];
  for (const [q, want] of cases) assert.equal(searchTarget(s, q), want, q);
});

/** A fake ledger: bob's balance, or an outage for anyone else. */
const fakeLedger = {
  kind: 'embedded',
  balance: (c: string) => (c === BOB ? Promise.resolve({ unit: 'SPORE', availableMicros: 0n }) : Promise.reject(new LedgerUnavailableError('balance', new Error('timeout')))),
} as unknown as Ledger;

test('the routes over loopback: admins only, HTML errors, security headers, fragments, redirects', async (t) => {
  const app = new Koa();
  app.use(errorMiddleware(pino({ enabled: false })));
  // A fake of the principal middleware: the test names the caller in a header (the gateway uses the socket's address).
  app.use(async (ctx, next) => {
    const as = ctx.get('x-test-as');
    const principal: Principal = { address: '4ab:cd::1', subnet: '4ab:cd::/64', ...(as === 'none' ? { roles: [] } : { agent: ALICE, roles: as === 'admin' ? ['customer', 'admin'] : ['customer'] }) };
    ctx.state.principal = principal;
    await next();
  });
  const router = new Router();
  registerAdminPageRoutes(router, { gatewayUrl: 'http://[4ab::1]:8480', sources: fakeSources(), ledger: fakeLedger });
  app.use(router.routes());
  const server = app.listen(0, '127.0.0.1');
  t.after(() => server.close());
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = (path: string, as: string, headers: Record<string, string> = {}): Promise<Response> => fetch(base + path, { headers: { 'x-test-as': as, ...headers }, redirect: 'manual' });

  const ok = await get('/admin', 'admin');
  assert.equal(ok.status, 200);
  for (const [k, v] of Object.entries(PAGE_HEADERS)) assert.equal(ok.headers.get(k), v, k);
  assert.equal(ok.headers.get('content-type'), 'text/html; charset=utf-8');
  const page = await ok.text();
  assert.match(page, /^<!doctype html>/);
  assert.match(page, /data-stat="deployments\.grace">1</);

  const fragment = await (await get('/admin', 'admin', { 'x-hypha-fragment': '1' })).text();
  assert.doesNotMatch(fragment, /<html|<head|<script|<header/);
  assert.match(fragment, /data-stat="deployments\.grace">1</);

  for (const path of ['/admin', '/admin/deployments/dep_ok', `/admin/customers/${BOB}`, '/admin/nodes/node-farmer1', '/admin/search?q=dep_ok']) {
    const denied = await get(path, 'customer');
    assert.equal(denied.status, 403, path);
    const body = await denied.text();
    assert.match(body, /Admins only/);
    assert.doesNotMatch(body, /dep_ok<|data-stat/);
    assert.equal(denied.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    const unlinked = await get(path, 'none');
    assert.equal(unlinked.status, 401, path);
    assert.match(await unlinked.text(), /not linked/);
  }

  const found = await get('/admin/search?q=ord_dep_gone', 'admin');
  assert.equal(found.status, 302);
  assert.equal(found.headers.get('location'), '/admin/deployments/dep_gone');
  assert.equal((await get('/admin/search?q=', 'admin')).headers.get('location'), '/admin');
  const none = await get(`/admin/search?q=${encodeURIComponent(EVIL)}`, 'admin');
  assert.equal(none.status, 404);
  const noneText = await none.text();
  assert.match(noneText, /Nothing found/);
  assert.ok(!noneText.includes(EVIL));

  const missing = await get('/admin/deployments/dep_nope', 'admin');
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /deployment dep_nope not found/);
  assert.equal((await get('/admin/customers/uhCAkNobody', 'admin')).status, 404);
  assert.equal((await get('/admin/nodes/node-nope', 'admin')).status, 404);

  const alice = await get(`/admin/customers/${ALICE}`, 'admin');
  assert.equal(alice.status, 200, 'a ledger outage does not break the customer page');
  assert.match(await alice.text(), /unknown: the ledger cannot be reached: ledger\.balance: timeout/);
  const node = await (await get('/admin/nodes/node-farmer1', 'admin')).text();
  assert.match(node, /dep_gone/);
  assert.match(node, /agent\.probe_disagreement/);
});

test('the overview counts orders by the state their deployment is in, and does not count admins as customers', () => {
  const s = fakeSources();
  const ADMIN = 'uhCAkAdminAdminAdminAdminAdminAdminAdminAdminAdminAdm';
  const withAdmin: AdminSources = {
    ...s,
    links: () => [...s.links(), { subnet: '6ab:12::/64', agent: ADMIN, address: '6ab:12::1', linkedAtMs: T0, nonce: 'n', statement: 's', signature: 'x' }],
    isAdmin: (agent) => agent === ADMIN,
  };
  const v = overview(withAdmin);
  assert.equal(v.customers.total, 2, 'alice and bob; the linked admin is not a customer');
  assert.deepEqual(v.orders, { deprovisioned: 1, grace: 1, active: 1, awaiting_payment: 1 });
  const adminOrdered = overview({ ...withAdmin, orders: () => [...s.orders(), { ...(s.orders()[0] as OrderRecord), id: 'ord_admin', customer: ADMIN, state: 'expired' as const }] });
  assert.equal(adminOrdered.customers.total, 3, 'an admin who orders is a customer too');
  const chart = revenueChart(v.revenue.periods, 'SPORE').text;
  assert.match(chart, /class="axis-label"[^>]*>2026-01-01 00:00Z</, 'the axis shows the date');
});
