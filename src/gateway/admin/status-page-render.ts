// Renders the admin status page's HTML from the admin views' data: pure functions, no I/O, every value escaped by `html`.
import type { DeploymentView } from '../deployments/deployment-service.js';
import { requestsTable, type RequestRow } from '../market/requests-table.js';
import { parseAmount } from '../../protocol/money.js';
import { html, type SafeHtml } from '../render/html.js';
import { adminPath } from './admin-path.js';
import type { EventRow } from './admin-views.js';
import { cspHash } from '../render/csp-hash.js';
import { STATUS_PAGE_STYLE as STYLE } from './status-page-style.js';
import { REFRESH_SCRIPT } from './status-page-script.js';

export type { EventRow };

/** One billed period's totals, as `overview().revenue.periods` gives them. */
export interface PeriodRow {
  readonly periodStart: string | null;
  readonly charged: string;
  readonly farmerShares: string;
  readonly paidOut: string;
  readonly arrears: string;
  readonly receipts: number;
}

/** The shape of `overview()` (docs/api.md, GET /admin/api/overview). */
export interface OverviewView {
  readonly at: string | null;
  readonly nodes: { readonly up: number; readonly down: number; readonly list: readonly { readonly id: string; readonly farmer: string; readonly up: boolean; readonly connected: boolean }[] };
  readonly agents: {
    readonly connected: number;
    readonly pending: number;
    readonly list: readonly { readonly agent: string; readonly nodes: readonly string[]; readonly address: string; readonly lastHeartbeatAgeSeconds: number | null }[];
  };
  readonly deployments: { readonly provisioning: number; readonly active: number; readonly grace: number; readonly deprovisioned: number };
  readonly orders: Readonly<Record<string, number>>;
  readonly customers: { readonly total: number; readonly lowFunds: number; readonly inGrace: number; readonly outOfFunds: number };
  readonly grace: readonly { readonly deployment: string; readonly customer: string; readonly graceSince: string | null; readonly graceUntil: string | null; readonly arrears: string }[];
  readonly outOfFunds: readonly { readonly deployment: string; readonly customer: string; readonly endedAt: string | null }[];
  readonly billing: {
    readonly lastRunAt: string | null;
    readonly lastPeriodEnd: string | null;
    readonly errors: number;
    readonly lastError: string | null;
    readonly ledgerDown: string | null;
    readonly recentErrors: readonly EventRow[];
  };
  readonly revenue: { readonly unit: string; readonly total: string; readonly arrears: string; readonly periods: readonly PeriodRow[] };
  readonly payouts: { readonly unit: string; readonly total: string };
  readonly disagreements: {
    readonly chainMismatch: number;
    readonly chainGap: number;
    readonly chainHeadMismatch: number;
    readonly probe: number;
    readonly uptimeDisputed: number;
    readonly countersignRefused: number;
    readonly recent: readonly EventRow[];
  };
}

/** A deployment as `deploymentView` gives it (declared once, in deployment-service.ts), plus whether its VM answers now. */
export interface DeploymentSummary extends DeploymentView {
  readonly vmUp: boolean;
}

/** An order as the admin views summarise it. */
export interface OrderSummary {
  readonly id: string;
  readonly state: string;
  readonly offer: string;
  readonly deposit: string;
  readonly createdAt: string | null;
  readonly paidAt?: string | null;
  readonly deployment?: string;
  readonly failure?: string;
  readonly attempts: readonly { readonly node: string; readonly at: string | null; readonly error: string }[];
}

/** A receipt as the admin views summarise it. */
export interface ReceiptSummary {
  readonly id: string;
  readonly periodStart: string;
  readonly periodEnd: string;
  readonly upSeconds: number;
  readonly amount: string;
  readonly farmerShare: string;
  readonly state: string;
  readonly paidOut: boolean;
  readonly countersigned: boolean;
  readonly countersignRefused?: string;
  /** Both sides' up-seconds when the farmer disputed the period's uptime. */
  readonly dispute?: { readonly agentUpSeconds: number; readonly gatewayUpSeconds: number };
  readonly final?: boolean;
}

/** The shape of `deploymentDetail()`. */
export interface DeploymentDetailView {
  readonly deployment: DeploymentSummary & { readonly customer: string; readonly farmer: string; readonly order: string; readonly destroyed: boolean };
  readonly order: OrderSummary | null;
  readonly receipts: readonly ReceiptSummary[];
  /** How many receipts the deployment has (the list shows the newest only). */
  readonly receiptsTotal: number;
  readonly timeline: readonly EventRow[];
}

/** The shape of `customerDetail()`. */
export interface CustomerDetailView {
  readonly customer: {
    readonly agent: string;
    readonly available?: string;
    readonly error?: string;
    readonly unit: string;
    readonly arrears: string;
    readonly lowFunds: boolean;
    readonly links: readonly { readonly subnet: string; readonly address: string; readonly linkedAt: string | null }[];
  };
  readonly deployments: readonly DeploymentSummary[];
  readonly orders: readonly OrderSummary[];
  readonly timeline: readonly EventRow[];
}

/** A row of the overview's deployment directory. */
export interface DeploymentListRow {
  readonly id: string;
  readonly state: string;
  readonly customer: string;
  readonly node: string;
  readonly createdAt: string;
}

/** What the node view shows: the node as the overview lists it, its agent, its deployments and events. */
export interface NodePageView {
  readonly node: OverviewView['nodes']['list'][number];
  readonly agent: OverviewView['agents']['list'][number] | null;
  readonly deployments: readonly DeploymentListRow[];
  readonly timeline: readonly EventRow[];
}

/** Seconds between the page's own refreshes (with JavaScript; the no-JS meta refresh waits NOSCRIPT_REFRESH_SECONDS). */
export const REFRESH_SECONDS = 5;
/** The meta refresh for browsers without JavaScript. */
export const NOSCRIPT_REFRESH_SECONDS = 10;
/** The request header that asks for just the `<main>` content (the refresh script sends it). */
export const FRAGMENT_HEADER = 'x-hypha-fragment';


/**
 * The Content-Security-Policy of every page: nothing but same-origin fetches, the search form,
 * and the one inline style sheet and script, allowed by their hashes.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${cspHash(REFRESH_SCRIPT)}`,
  `style-src ${cspHash(STYLE)}`,
  "connect-src 'self'",
  // data: only for the empty favicon, which keeps browsers from asking the gateway for /favicon.ico.
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** How a page is wrapped. */
export interface PageOptions {
  readonly title: string;
  /** Refresh the page (JS fragment swap, or the no-JS meta refresh); off for search results and errors. */
  readonly refresh: boolean;
  /** What the search box shows. */
  readonly query?: string;
}

/** A whole HTML document around the `<main>` content. */
export function renderDocument(main: SafeHtml, o: PageOptions): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${o.title} · hypha admin</title>
${o.refresh ? html`<noscript><meta http-equiv="refresh" content="${NOSCRIPT_REFRESH_SECONDS}"></noscript>` : ''}
<style>${STYLE}</style>
</head>
<body>
<header>
<a class="home" href="/admin">hypha admin</a>
<form method="get" action="/admin/search" role="search">
<label for="q" class="muted">Find</label>
<input id="q" name="q" type="search" value="${o.query ?? ''}" placeholder="customer AgentPubKey, deployment id, order id, node id or Mycelium address" autocomplete="off" spellcheck="false">
<button type="submit">Search</button>
</form>
<span id="refresh-status" role="status">${o.refresh ? html`refreshes every ${REFRESH_SECONDS} s` : ''}</span>
</header>
<main id="main" data-refresh-seconds="${o.refresh ? REFRESH_SECONDS : 0}">
${main}
</main>
${o.refresh ? html`<script>${REFRESH_SCRIPT}</script>` : ''}
</body>
</html>
`.text;
}

/** GET /admin: the global view. */
export function renderOverview(v: OverviewView, extra: { readonly deployments: readonly DeploymentListRow[]; readonly recentEvents: readonly EventRow[]; readonly requests?: readonly RequestRow[] }): SafeHtml {
  const stat = (key: string, label: string, value: number | string): SafeHtml => html`<dt>${label}</dt><dd data-stat="${key}">${value}</dd>`;
  return html`
<h1>Status</h1>
<p class="generated">As of <span data-stat="at">${time(v.at)}</span> (gateway clock)</p>
${v.billing.ledgerDown !== null ? html`<p class="banner" data-stat="ledger-down">The ledger cannot be reached: ${v.billing.ledgerDown}. Billing retries; nobody enters grace for this.</p>` : ''}
<section aria-labelledby="h-stats">
<h2 id="h-stats">At a glance</h2>
<div class="cards">
<div class="card"><h3>Nodes</h3><dl class="stats">${stat('nodes.up', 'up', v.nodes.up)}${stat('nodes.down', 'down', v.nodes.down)}</dl></div>
<div class="card"><h3>Agents</h3><dl class="stats">${stat('agents.connected', 'connected', v.agents.connected)}${stat('agents.pending', 'waiting for approval', v.agents.pending)}</dl></div>
<div class="card"><h3>Deployments</h3><dl class="stats">${stat('deployments.provisioning', 'provisioning', v.deployments.provisioning)}${stat('deployments.active', 'active', v.deployments.active)}${stat('deployments.grace', 'in grace', v.deployments.grace)}${stat('deployments.deprovisioned', 'deprovisioned', v.deployments.deprovisioned)}</dl></div>
<div class="card"><h3>Customers</h3><dl class="stats">${stat('customers.total', 'total', v.customers.total)}${stat('customers.lowFunds', 'low funds', v.customers.lowFunds)}${stat('customers.inGrace', 'in grace', v.customers.inGrace)}${stat('customers.outOfFunds', 'out of funds', v.customers.outOfFunds)}</dl></div>
<div class="card"><h3>Money (${v.revenue.unit})</h3><dl class="stats">${stat('revenue.total', 'charged', v.revenue.total)}${stat('payouts.total', 'paid to farmers', v.payouts.total)}${stat('revenue.arrears', 'in arrears', v.revenue.arrears)}</dl></div>
<div class="card"><h3>Orders</h3><dl class="stats">${Object.keys(v.orders).length === 0 ? html`<dt>none yet</dt><dd></dd>` : Object.entries(v.orders).map(([state, n]) => stat(`orders.${state}`, state, n))}</dl></div>
</div>
</section>

<section aria-labelledby="h-billing">
<h2 id="h-billing">Billing</h2>
<dl class="facts">
<dt>last run</dt><dd data-stat="billing.lastRunAt">${time(v.billing.lastRunAt)}</dd>
<dt>closed through</dt><dd>${time(v.billing.lastPeriodEnd)}</dd>
<dt>errors</dt><dd data-stat="billing.errors">${v.billing.errors}</dd>
<dt>last error</dt><dd>${v.billing.lastError ?? html`<span class="muted">none</span>`}</dd>
<dt>ledger</dt><dd data-stat="billing.ledger">${v.billing.ledgerDown === null ? html`<span class="state-up">reachable</span>` : html`<span class="state-down">down: ${v.billing.ledgerDown}</span>`}</dd>
</dl>
${v.billing.recentErrors.length > 0 ? html`<h3>Recent billing errors</h3>${timelineTable(v.billing.recentErrors, 'billing-errors', { newestFirst: true, alreadyNewestFirst: true })}` : ''}
</section>

<section aria-labelledby="h-grace">
<h2 id="h-grace">Deployments in grace</h2>
${
  v.grace.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<table id="grace"><thead><tr><th>deployment</th><th>customer</th><th>grace since</th><th>deprovisioned at</th><th class="num">arrears</th></tr></thead><tbody>
${v.grace.map((g) => html`<tr><td class="id">${deploymentLink(g.deployment)}</td><td class="id">${customerLink(g.customer)}</td><td>${time(g.graceSince)}</td><td data-grace-until>${time(g.graceUntil)}</td><td class="num">${g.arrears}</td></tr>`)}
</tbody></table>`
}
</section>

<section aria-labelledby="h-oof">
<h2 id="h-oof">Deprovisioned: out of funds</h2>
${
  v.outOfFunds.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<table id="out-of-funds"><thead><tr><th>deployment</th><th>customer</th><th>ended at</th></tr></thead><tbody>
${v.outOfFunds.map((o) => html`<tr><td class="id">${deploymentLink(o.deployment)}</td><td class="id">${customerLink(o.customer)}</td><td>${time(o.endedAt)}</td></tr>`)}
</tbody></table>`
}
</section>

<section aria-labelledby="h-revenue">
<h2 id="h-revenue">Revenue and farmer payouts per period</h2>
${revenueChart(v.revenue.periods, v.revenue.unit)}
${
  v.revenue.periods.length === 0
    ? ''
    : html`<table id="revenue"><caption class="muted">The same numbers, in ${v.revenue.unit}</caption><thead><tr><th>period start</th><th class="num">charged</th><th class="num">farmer shares</th><th class="num">paid out</th><th class="num">arrears</th><th class="num">receipts</th></tr></thead><tbody>
${v.revenue.periods.map((p) => html`<tr><td>${time(p.periodStart)}</td><td class="num">${p.charged}</td><td class="num">${p.farmerShares}</td><td class="num">${p.paidOut}</td><td class="num">${p.arrears}</td><td class="num">${p.receipts}</td></tr>`)}
</tbody></table>`
}
</section>

<section aria-labelledby="h-nodes">
<h2 id="h-nodes">Nodes and agents</h2>
${
  v.nodes.list.length === 0
    ? html`<p class="muted">No node has reported yet.</p>`
    : html`<table id="nodes"><thead><tr><th>node</th><th>farmer</th><th>state</th><th>agent connected</th></tr></thead><tbody>
${v.nodes.list.map((n) => html`<tr><td class="id">${nodeLink(n.id)}</td><td class="id">${n.farmer}</td><td>${upDown(n.up)}</td><td>${yesNo(n.connected)}</td></tr>`)}
</tbody></table>`
}
${
  v.agents.list.length === 0
    ? html`<p class="muted">No agent is connected.</p>`
    : html`<table id="agents"><thead><tr><th>agent</th><th>address</th><th>nodes</th><th class="num">last heartbeat</th></tr></thead><tbody>
${v.agents.list.map((a) => html`<tr><td class="id">${a.agent}</td><td class="id">${a.address}</td><td>${a.nodes.map((n, i) => html`${i > 0 ? ', ' : ''}${nodeLink(n)}`)}</td><td class="num">${a.lastHeartbeatAgeSeconds === null ? 'never' : `${a.lastHeartbeatAgeSeconds} s ago`}</td></tr>`)}
</tbody></table>`
}
</section>

<section aria-labelledby="h-disagree">
<h2 id="h-disagree">Evidence problems</h2>
<dl class="facts">
<dt>agent/probe disagreements</dt><dd data-stat="disagreements.probe">${v.disagreements.probe}</dd>
<dt>countersignatures refused</dt><dd data-stat="disagreements.countersignRefused">${v.disagreements.countersignRefused}</dd>
<dt>heartbeat chain mismatches</dt><dd data-stat="disagreements.chainMismatch">${v.disagreements.chainMismatch}</dd>
<dt>heartbeat chain gaps</dt><dd data-stat="disagreements.chainGap">${v.disagreements.chainGap}</dd>
<dt>chain head mismatches</dt><dd data-stat="disagreements.chainHeadMismatch">${v.disagreements.chainHeadMismatch}</dd>
</dl>
${v.disagreements.recent.length > 0 ? timelineTable(v.disagreements.recent, 'disagreements', { newestFirst: true, alreadyNewestFirst: true }) : ''}
</section>

<section aria-labelledby="h-deployments">
<h2 id="h-deployments">Deployments (newest first)</h2>
${
  extra.deployments.length === 0
    ? html`<p class="muted">None yet.</p>`
    : html`<table id="deployments"><thead><tr><th>deployment</th><th>state</th><th>customer</th><th>node</th><th>created</th></tr></thead><tbody>
${extra.deployments.map((d) => html`<tr><td class="id">${deploymentLink(d.id)}</td><td>${stateBadge(d.state)}</td><td class="id">${customerLink(d.customer)}</td><td>${nodeLink(d.node)}</td><td>${time(d.createdAt)}</td></tr>`)}
</tbody></table>`
}
</section>

<section aria-labelledby="h-requests">
<h2 id="h-requests">Capacity requests (newest first)</h2>
${requestsTable(extra.requests ?? [], 'requests', true)}
</section>

<section aria-labelledby="h-events">
<h2 id="h-events">Recent events</h2>
${extra.recentEvents.length === 0 ? html`<p class="muted">None yet.</p>` : timelineTable(extra.recentEvents, 'recent-events', { newestFirst: true, alreadyNewestFirst: true })}
</section>
`;
}

/** GET /admin/deployments/{id}: everything that happened to one deployment, with the answer to "why did it end?" on top. */
export function renderDeployment(v: DeploymentDetailView): SafeHtml {
  const d = v.deployment;
  const last = (name: string): EventRow | undefined => [...v.timeline].reverse().find((e) => e.event === name);
  const graceStarted = last('deployment.grace');
  const ended = last('deployment.deprovisioned');
  const payment = v.timeline.filter((e) => e.event.startsWith('order.payment') || e.event === 'order.paid' || e.event === 'order.created' || e.event === 'order.expired');
  const provisioning = v.timeline.filter((e) => e.event === 'order.provisioning' || e.event === 'order.provision_failed' || e.event === 'order.failed' || e.event === 'order.active' || e.event === 'deployment.active');
  const lifecycle = v.timeline.filter((e) => e.event.startsWith('deployment.') && e.event !== 'deployment.active');
  return html`
<h1>Deployment ${d.id} ${stateBadge(d.state)}</h1>
${outcome(d, graceStarted, ended)}
<section aria-labelledby="h-facts">
<h2 id="h-facts">Deployment</h2>
<dl class="facts">
<dt>state</dt><dd data-field="state">${stateBadge(d.state)}${d.paused ? ' (VM paused)' : ''}</dd>
<dt>customer</dt><dd>${customerLink(d.customer)}</dd>
<dt>node</dt><dd>${nodeLink(d.node)}</dd>
<dt>farmer</dt><dd>${d.farmer}</dd>
<dt>Mycelium IP</dt><dd>${d.myceliumIp}</dd>
<dt>VM up now</dt><dd data-field="vmUp">${yesNo(d.vmUp)}</dd>
<dt>offer</dt><dd>${d.offer} at ${d.pricePerHour} ${d.unit}/h${d.name ? html` · name ${d.name}` : ''}</dd>
<dt>created</dt><dd>${time(d.createdAt)}</dd>
<dt>up-seconds billed</dt><dd data-field="upSeconds">${d.upSeconds}</dd>
<dt>charged</dt><dd data-field="charged">${d.charged} ${d.unit}</dd>
<dt>arrears</dt><dd data-field="arrears">${d.arrears} ${d.unit}</dd>
${d.graceUntil !== undefined ? html`<dt>grace until</dt><dd data-field="graceUntil">${time(d.graceUntil)}</dd>` : ''}
${d.endedAt !== undefined ? html`<dt>ended</dt><dd data-field="endedAt">${time(d.endedAt)}</dd>` : ''}
${d.endReason !== undefined ? html`<dt>end reason</dt><dd data-field="endReason">${d.endReason}</dd>` : ''}
<dt>VM destroyed</dt><dd>${yesNo(d.destroyed)}</dd>
</dl>
</section>

<section aria-labelledby="h-order">
<h2 id="h-order">Order, payment check and provisioning</h2>
${
  v.order === null
    ? html`<p class="muted">The order ${d.order} is not in the store.</p>`
    : html`<dl class="facts">
<dt>order</dt><dd class="id">${v.order.id} (${v.order.state})</dd>
<dt>offer</dt><dd>${v.order.offer}</dd>
<dt>deposit</dt><dd>${v.order.deposit} ${d.unit}</dd>
<dt>ordered</dt><dd>${time(v.order.createdAt)}</dd>
<dt>paid</dt><dd>${v.order.paidAt ? time(v.order.paidAt) : html`<span class="muted">not yet</span>`}</dd>
${v.order.failure ? html`<dt>failure</dt><dd class="ev-bad">${v.order.failure}</dd>` : ''}
</dl>
<h3>Payment check</h3>
${payment.length === 0 ? html`<p class="muted">No payment events.</p>` : timelineTable(payment, 'payment', { linkDeployments: false })}
<h3>Provisioning</h3>
${provisioning.length === 0 ? html`<p class="muted">No provisioning events.</p>` : timelineTable(provisioning, 'provisioning', { linkDeployments: false })}
${
  v.order.attempts.length === 0
    ? ''
    : html`<table id="attempts"><caption class="muted">Failed deploy attempts</caption><thead><tr><th>time</th><th>node</th><th>error</th></tr></thead><tbody>
${v.order.attempts.map((a) => html`<tr><td>${time(a.at)}</td><td>${nodeLink(a.node)}</td><td>${a.error}</td></tr>`)}
</tbody></table>`
}`
}
</section>

<section aria-labelledby="h-lifecycle">
<h2 id="h-lifecycle">Grace, resume and deprovisioning</h2>
${lifecycle.length === 0 ? html`<p class="muted">Nothing yet: the deployment has not been paused, in grace or ended.</p>` : timelineTable(lifecycle, 'lifecycle', { linkDeployments: false })}
</section>

<section aria-labelledby="h-receipts">
<h2 id="h-receipts">Receipts and payouts</h2>
${
  v.receipts.length === 0
    ? html`<p class="muted">No receipts yet.</p>`
    : html`<table id="receipts"><thead><tr><th>receipt</th><th>period</th><th class="num">up-seconds</th><th class="num">amount</th><th class="num">farmer share</th><th>state</th><th>countersigned</th><th>farmer paid</th></tr></thead><tbody>
${v.receipts.map(
  (r) => html`<tr data-receipt-state="${r.state}"><td class="id">${r.id}${r.final ? html` <span class="muted">(final)</span>` : ''}</td><td>${time(r.periodStart)} – ${time(r.periodEnd)}</td><td class="num">${r.upSeconds}</td><td class="num">${r.amount}</td><td class="num">${r.farmerShare}</td><td class="${receiptStateClass(r.state)}">${receiptState(r.state)}</td><td>${r.countersigned ? 'yes' : r.countersignRefused ? html`<span class="ev-bad">refused: ${r.countersignRefused}</span>` : 'no'}</td><td>${yesNo(r.paidOut)}</td></tr>`,
)}
</tbody></table>`
}
</section>

<section aria-labelledby="h-timeline">
<h2 id="h-timeline">Timeline</h2>
${v.timeline.length === 0 ? html`<p class="muted">No events.</p>` : timelineTable(v.timeline, 'timeline', { linkDeployments: false })}
</section>
`;
}

/** GET /admin/customers/{agent}: balance, arrears, links, deployments and the timeline, with "did the funds run out, and when?" on top. */
export function renderCustomer(v: CustomerDetailView): SafeHtml {
  const c = v.customer;
  const ranOut = v.timeline.filter((e) => e.event === 'deployment.grace');
  const outOfFunds = v.deployments.filter((d) => d.endReason === 'out_of_funds');
  const inGrace = v.deployments.filter((d) => d.state === 'grace');
  return html`
<h1>Customer ${c.agent}</h1>
<div class="answer ${ranOut.length > 0 ? 'bad' : c.lowFunds ? 'warn' : ''}" id="funds-answer">
${
  ranOut.length === 0
    ? html`<p data-field="ranOut">Funds have not run out: no deployment of this customer has gone into grace.</p>`
    : html`<p data-field="ranOut"><strong>Funds ran out</strong> ${ranOut.length === 1 ? 'once' : `${ranOut.length} times`}: first at ${time(ranOut[0]?.at ?? null)}${ranOut.length > 1 ? html`, last at ${time(ranOut[ranOut.length - 1]?.at ?? null)}` : ''}.</p>
<ul>${ranOut.map((e) => html`<li>${time(e.at)}: ${e.deployment ? deploymentLink(e.deployment) : ''} went into grace: ${e.detail}</li>`)}</ul>`
}
${inGrace.map((d) => html`<p>${deploymentLink(d.id)} is in grace until ${time(d.graceUntil ?? null)}.</p>`)}
${outOfFunds.map((d) => html`<p>${deploymentLink(d.id)} was deprovisioned for lack of funds at ${time(d.endedAt ?? null)}.</p>`)}
</div>
<section aria-labelledby="h-funds">
<h2 id="h-funds">Funds</h2>
<dl class="facts">
<dt>balance</dt><dd data-field="balance">${c.available !== undefined ? `${c.available} ${c.unit}` : html`<span class="ev-bad">unknown: ${c.error ?? 'the ledger did not answer'}</span>`}</dd>
<dt>arrears</dt><dd data-field="arrears">${c.arrears} ${c.unit}</dd>
<dt>low funds</dt><dd data-field="lowFunds">${c.lowFunds ? html`<span class="ev-warn">yes</span>` : 'no'}</dd>
</dl>
</section>

<section aria-labelledby="h-links">
<h2 id="h-links">Linked Mycelium /64s</h2>
${
  c.links.length === 0
    ? html`<p class="muted">No linked /64 (the customer unlinked, or ordered from a /64 since unlinked).</p>`
    : html`<table id="links"><thead><tr><th>subnet</th><th>linked from</th><th>linked at</th></tr></thead><tbody>
${c.links.map((l) => html`<tr><td class="id">${l.subnet}</td><td class="id">${l.address}</td><td>${time(l.linkedAt)}</td></tr>`)}
</tbody></table>`
}
</section>

<section aria-labelledby="h-cdeployments">
<h2 id="h-cdeployments">Deployments</h2>
${
  v.deployments.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<table id="customer-deployments"><thead><tr><th>deployment</th><th>state</th><th>offer</th><th>node</th><th class="num">up-seconds</th><th class="num">charged</th><th class="num">arrears</th><th>grace until / ended</th><th>VM up</th></tr></thead><tbody>
${v.deployments.map(
  (d) => html`<tr><td class="id">${deploymentLink(d.id)}</td><td>${stateBadge(d.state)}</td><td>${d.offer}</td><td>${nodeLink(d.node)}</td><td class="num">${d.upSeconds}</td><td class="num">${d.charged}</td><td class="num">${d.arrears}</td><td>${d.graceUntil !== undefined ? html`grace until ${time(d.graceUntil)}` : d.endedAt !== undefined ? html`ended ${time(d.endedAt)} (${d.endReason ?? 'unknown'})` : ''}</td><td>${yesNo(d.vmUp)}</td></tr>`,
)}
</tbody></table>`
}
</section>

<section aria-labelledby="h-corders">
<h2 id="h-corders">Orders</h2>
${
  v.orders.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<table id="orders"><thead><tr><th>order</th><th>state</th><th>offer</th><th class="num">deposit</th><th>ordered</th><th>paid</th><th>deployment</th></tr></thead><tbody>
${v.orders.map((o) => html`<tr><td class="id">${o.id}</td><td>${stateBadge(o.state)}${o.failure ? html` <span class="ev-bad">${o.failure}</span>` : ''}</td><td>${o.offer}</td><td class="num">${o.deposit}</td><td>${time(o.createdAt)}</td><td>${o.paidAt ? time(o.paidAt) : ''}</td><td class="id">${o.deployment ? deploymentLink(o.deployment) : ''}</td></tr>`)}
</tbody></table>`
}
</section>

<section aria-labelledby="h-ctimeline">
<h2 id="h-ctimeline">Timeline</h2>
${v.timeline.length === 0 ? html`<p class="muted">No events.</p>` : timelineTable(v.timeline, 'timeline', { newestFirst: true })}
</section>
`;
}

/** GET /admin/nodes/{id}: a node, its agent, the deployments placed on it and its events. */
export function renderNode(v: NodePageView): SafeHtml {
  return html`
<h1>Node ${v.node.id} ${upDown(v.node.up)}</h1>
<dl class="facts">
<dt>state</dt><dd data-field="state">${upDown(v.node.up)}</dd>
<dt>farmer</dt><dd>${v.node.farmer}</dd>
<dt>agent connected</dt><dd>${yesNo(v.node.connected)}</dd>
${v.agent ? html`<dt>agent address</dt><dd>${v.agent.address}</dd><dt>last heartbeat</dt><dd>${v.agent.lastHeartbeatAgeSeconds === null ? 'never' : `${v.agent.lastHeartbeatAgeSeconds} s ago`}</dd>` : ''}
</dl>
<section aria-labelledby="h-ndeployments">
<h2 id="h-ndeployments">Deployments on this node</h2>
${
  v.deployments.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<table id="node-deployments"><thead><tr><th>deployment</th><th>state</th><th>customer</th><th>created</th></tr></thead><tbody>
${v.deployments.map((d) => html`<tr><td class="id">${deploymentLink(d.id)}</td><td>${stateBadge(d.state)}</td><td class="id">${customerLink(d.customer)}</td><td>${time(d.createdAt)}</td></tr>`)}
</tbody></table>`
}
</section>
<section aria-labelledby="h-ntimeline">
<h2 id="h-ntimeline">Timeline (node and its agent)</h2>
${v.timeline.length === 0 ? html`<p class="muted">No events.</p>` : timelineTable(v.timeline, 'timeline', { newestFirst: true })}
</section>
`;
}

/** The search's "nothing found" (and the error pages): what was asked, and what can be searched. */
export function renderMessage(title: string, message: string, hint?: string): SafeHtml {
  return html`
<h1>${title}</h1>
<p id="message">${message}</p>
${hint ? html`<p class="muted">${hint}</p>` : ''}
<p><a href="/admin">Back to the status page</a></p>
`;
}

/**
 * The revenue chart: per period, a bar for what was charged and one for what farmers were paid,
 * as inline SVG with a title per bar. Heights come from integer micro-units (no floats for money).
 */
export function revenueChart(periods: readonly PeriodRow[], unit: string): SafeHtml {
  if (periods.length === 0) return html`<p class="muted">No period has been billed yet.</p>`;
  const chartHeight = 120;
  const barWidth = 8;
  const groupWidth = barWidth * 2 + 6;
  const left = 4;
  const top = 18;
  // Wide enough for two dated axis labels even with a handful of periods.
  const width = Math.max(left * 2 + groupWidth * periods.length, 260);
  const height = top + chartHeight + 16;
  const values = periods.map((p) => ({ p, charged: micros(p.charged), paid: micros(p.paidOut) }));
  const max = values.reduce((m, v) => [m, v.charged, v.paid].reduce((a, b) => (b > a ? b : a)), 0n);
  const barHeight = (v: bigint): number => (max === 0n ? 0 : Number((v * BigInt(chartHeight)) / max));
  const baseline = top + chartHeight;
  return html`<svg class="chart" id="revenue-chart" role="img" aria-labelledby="revenue-chart-title" viewBox="0 0 ${width} ${height}" width="${width * 2}" height="${height * 2}" xmlns="http://www.w3.org/2000/svg">
<title id="revenue-chart-title">Charged and paid out to farmers per period, in ${unit}; the table below has the numbers</title>
<rect class="bar-charged" x="${left}" y="2" width="8" height="8"></rect><text x="${left + 11}" y="10">charged</text>
<rect class="bar-paid" x="${left + 60}" y="2" width="8" height="8"></rect><text x="${left + 71}" y="10">paid to farmers</text>
<line class="axis" x1="0" y1="${baseline}" x2="${width}" y2="${baseline}"></line>
${values.map((v, i) => {
  const x = left + i * groupWidth;
  const hc = barHeight(v.charged);
  const hp = barHeight(v.paid);
  return html`<g><rect class="bar-charged" x="${x}" y="${baseline - hc}" width="${barWidth}" height="${hc}"><title>${v.p.periodStart ?? ''}: charged ${v.p.charged} ${unit}</title></rect><rect class="bar-paid" x="${x + barWidth}" y="${baseline - hp}" width="${barWidth}" height="${hp}"><title>${v.p.periodStart ?? ''}: paid out ${v.p.paidOut} ${unit}</title></rect></g>`;
})}
<text class="axis-label" x="${left}" y="${height - 3}">${axisTime(periods[0]?.periodStart ?? null)}</text>
${periods.length > 1 ? html`<text class="axis-label" x="${width - left}" y="${height - 3}" text-anchor="end">${axisTime(periods[periods.length - 1]?.periodStart ?? null)}</text>` : ''}
</svg>`;
}

function outcome(d: DeploymentDetailView['deployment'], graceStarted: EventRow | undefined, ended: EventRow | undefined): SafeHtml {
  if (d.state === 'deprovisioned') {
    return html`<div class="answer bad" id="outcome">
<p data-field="why"><strong>Deprovisioned</strong> at ${time(d.endedAt ?? ended?.at ?? null)}, reason <strong>${d.endReason ?? 'unknown'}</strong>${ended ? html`: ${ended.detail}` : ''}.</p>
${graceStarted ? html`<p>Grace had started at ${time(graceStarted.at)}: ${graceStarted.detail}.</p>` : ''}
</div>`;
  }
  if (d.state === 'grace') {
    return html`<div class="answer warn" id="outcome">
<p data-field="why"><strong>In grace</strong> until ${time(d.graceUntil ?? null)}${d.paused ? ', VM paused' : ''}${graceStarted ? html` — since ${time(graceStarted.at)}: ${graceStarted.detail}` : ''}.</p>
</div>`;
  }
  return html`<div class="answer" id="outcome"><p data-field="why">${d.state === 'active' ? 'Active' : d.state}; the VM is ${d.vmUp ? 'up' : 'not up'} right now.</p></div>`;
}

/** How a table of events is shown: `rows` come oldest first unless `alreadyNewestFirst`. */
interface TimelineOptions {
  readonly newestFirst?: boolean;
  readonly alreadyNewestFirst?: boolean;
  /** Link each row's deployment (off on the deployment's own page). */
  readonly linkDeployments?: boolean;
}

function timelineTable(rows: readonly EventRow[], id: string, o: TimelineOptions = {}): SafeHtml {
  const newestFirst = o.newestFirst ?? false;
  const ordered = newestFirst === (o.alreadyNewestFirst ?? false) ? rows : [...rows].reverse();
  return html`<table id="${id}" class="timeline"><caption class="muted">${newestFirst ? 'newest first' : 'oldest first'}</caption><thead><tr><th>time</th><th>event</th><th>reason / detail</th></tr></thead><tbody>
${ordered.map((e) => html`<tr data-event="${e.event}"><td>${time(e.at)}</td><td class="${eventClass(e.event)}">${e.event}</td><td>${e.detail}${e.deployment && o.linkDeployments !== false ? html` · ${deploymentLink(e.deployment)}` : ''}</td></tr>`)}
</tbody></table>`;
}

function eventClass(event: string): string {
  if (event === 'deployment.deprovisioned' || event === 'billing.error' || event === 'order.failed' || event.startsWith('agent.chain') || event.endsWith('_refused') || event.endsWith('_invalid') || event.endsWith('_failed') || event === 'agent.probe_disagreement') return 'ev-bad';
  if (event === 'deployment.grace' || event === 'customer.low_funds' || event === 'deployment.paused' || event === 'order.payment_unavailable') return 'ev-warn';
  if (event === 'deployment.active' || event === 'deployment.active_again' || event === 'order.paid' || event === 'deployment.resumed' || event === 'billing.arrears_settled') return 'ev-good';
  return '';
}

function receiptState(state: string): string {
  return state === 'arrears' ? 'unpaid (arrears)' : state;
}

function receiptStateClass(state: string): string {
  return state === 'arrears' ? 'ev-bad' : state === 'paid' ? 'ev-good' : '';
}

function micros(amount: string): bigint {
  try {
    return parseAmount('amount', amount);
  } catch {
    return 0n;
  }
}

function time(iso: string | null): SafeHtml {
  if (iso === null) return html`<span class="muted">never</span>`;
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
}

/** A period start on the chart's axis: the date and the minute (UTC), "2026-11-28 07:00Z", so bars of different days read apart. */
export function axisTime(iso: string | null): string {
  return iso === null ? '' : iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, 'Z');
}

function stateBadge(state: string): SafeHtml {
  return html`<span class="state state-${state}">${state}</span>`;
}

function upDown(up: boolean): SafeHtml {
  return up ? html`<span class="state state-up">up</span>` : html`<span class="state state-down">down</span>`;
}

function yesNo(v: boolean): string {
  return v ? 'yes' : 'no';
}

function deploymentLink(id: string): SafeHtml {
  return html`<a href="${adminPath('deployments', id)}">${id}</a>`;
}

function customerLink(agent: string): SafeHtml {
  return html`<a href="${adminPath('customers', agent)}">${agent}</a>`;
}

function nodeLink(id: string): SafeHtml {
  return html`<a href="${adminPath('nodes', id)}">${id}</a>`;
}
