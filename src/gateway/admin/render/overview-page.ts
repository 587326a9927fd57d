// The admin overview (GET /admin): at a glance, billing, grace, out of funds, revenue, nodes and agents, evidence problems, deployments and recent events.
import { requestsTable, type RequestRow } from '../../market/requests-table.js';
import { html, type SafeHtml } from '../../render/html.js';
import { table } from '../../render/table.js';
import type { DeploymentListRow, EventRow, OverviewView } from '../admin-view-types.js';
import { customerLink, deploymentLink, heartbeatAge, nodeLink, stateBadge, time, upDown, yesNo } from './cells.js';
import { revenueChart } from './revenue-chart.js';
import { timelineTable } from './timeline-table.js';

/** What the overview shows beside `overview()`: the newest deployments and events. */
export interface OverviewExtra {
  readonly deployments: readonly DeploymentListRow[];
  readonly recentEvents: readonly EventRow[];
  /** The newest capacity requests with their bids (the market). */
  readonly requests?: readonly RequestRow[];
}

type Grace = OverviewView['grace'][number];
type OutOfFunds = OverviewView['outOfFunds'][number];
type Period = OverviewView['revenue']['periods'][number];
type NodeRow = OverviewView['nodes']['list'][number];
type AgentRow = OverviewView['agents']['list'][number];

/** GET /admin: the global view. */
export function renderOverview(v: OverviewView, extra: OverviewExtra): SafeHtml {
  return html`
<h1>Status</h1>
<p class="generated">As of <span data-stat="at">${time(v.at)}</span> (gateway clock)</p>
${v.billing.ledgerDown !== null ? html`<p class="banner" data-stat="ledger-down">The ledger cannot be reached: ${v.billing.ledgerDown}. Billing retries; nobody enters grace for this.</p>` : ''}
${glance(v)}
${billing(v.billing)}

<section aria-labelledby="h-grace">
<h2 id="h-grace">Deployments in grace</h2>
${table<Grace>(
  [
    { header: 'deployment', cell: (g) => deploymentLink(g.deployment), className: 'id' },
    { header: 'customer', cell: (g) => customerLink(g.customer), className: 'id' },
    { header: 'grace since', cell: (g) => time(g.graceSince) },
    { header: 'deprovisioned at', cell: (g) => time(g.graceUntil), mark: 'data-grace-until' },
    { header: 'arrears', cell: (g) => g.arrears, num: true },
  ],
  v.grace,
  'None.',
  { id: 'grace' },
)}
</section>

<section aria-labelledby="h-oof">
<h2 id="h-oof">Deprovisioned: out of funds</h2>
${table<OutOfFunds>(
  [
    { header: 'deployment', cell: (o) => deploymentLink(o.deployment), className: 'id' },
    { header: 'customer', cell: (o) => customerLink(o.customer), className: 'id' },
    { header: 'ended at', cell: (o) => time(o.endedAt) },
  ],
  v.outOfFunds,
  'None.',
  { id: 'out-of-funds' },
)}
</section>

<section aria-labelledby="h-revenue">
<h2 id="h-revenue">Revenue and farmer payouts per period</h2>
${revenueChart(v.revenue.periods, v.revenue.unit)}
${
  v.revenue.periods.length === 0
    ? ''
    : table<Period>(
        [
          { header: 'period start', cell: (p) => time(p.periodStart) },
          { header: 'charged', cell: (p) => p.charged, num: true },
          { header: 'farmer shares', cell: (p) => p.farmerShares, num: true },
          { header: 'paid out', cell: (p) => p.paidOut, num: true },
          { header: 'arrears', cell: (p) => p.arrears, num: true },
          { header: 'receipts', cell: (p) => p.receipts, num: true },
        ],
        v.revenue.periods,
        '',
        { id: 'revenue', caption: `The same numbers, in ${v.revenue.unit}` },
      )
}
</section>

<section aria-labelledby="h-nodes">
<h2 id="h-nodes">Nodes and agents</h2>
${table<NodeRow>(
  [
    { header: 'node', cell: (n) => nodeLink(n.id), className: 'id' },
    { header: 'farmer', cell: (n) => n.farmer, className: 'id' },
    { header: 'state', cell: (n) => upDown(n.up) },
    { header: 'agent connected', cell: (n) => yesNo(n.connected) },
  ],
  v.nodes.list,
  'No node has reported yet.',
  { id: 'nodes' },
)}
${table<AgentRow>(
  [
    { header: 'agent', cell: (a) => a.agent, className: 'id' },
    { header: 'address', cell: (a) => a.address, className: 'id' },
    { header: 'nodes', cell: (a) => html`${a.nodes.map((n, i) => html`${i > 0 ? ', ' : ''}${nodeLink(n)}`)}` },
    { header: 'last heartbeat', cell: (a) => heartbeatAge(a.lastHeartbeatAgeSeconds), num: true },
  ],
  v.agents.list,
  'No agent is connected.',
  { id: 'agents' },
)}
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
${table<DeploymentListRow>(
  [
    { header: 'deployment', cell: (d) => deploymentLink(d.id), className: 'id' },
    { header: 'state', cell: (d) => stateBadge(d.state) },
    { header: 'customer', cell: (d) => customerLink(d.customer), className: 'id' },
    { header: 'node', cell: (d) => nodeLink(d.node) },
    { header: 'created', cell: (d) => time(d.createdAt) },
  ],
  extra.deployments,
  'None yet.',
  { id: 'deployments' },
)}
</section>

<section aria-labelledby="h-requests">
<h2 id="h-requests">Capacity requests (newest first)</h2>
${requestsTable(extra.requests ?? [], 'requests', true)}
</section>

<section aria-labelledby="h-events">
<h2 id="h-events">Recent events</h2>
${timelineTable(extra.recentEvents, 'recent-events', { newestFirst: true, alreadyNewestFirst: true, empty: 'None yet.' })}
</section>
`;
}

/** The cards of counts on top. */
function glance(v: OverviewView): SafeHtml {
  const stat = (key: string, label: string, value: number | string): SafeHtml => html`<dt>${label}</dt><dd data-stat="${key}">${value}</dd>`;
  return html`<section aria-labelledby="h-stats">
<h2 id="h-stats">At a glance</h2>
<div class="cards">
<div class="card"><h3>Nodes</h3><dl class="stats">${stat('nodes.up', 'up', v.nodes.up)}${stat('nodes.down', 'down', v.nodes.down)}</dl></div>
<div class="card"><h3>Agents</h3><dl class="stats">${stat('agents.connected', 'connected', v.agents.connected)}${stat('agents.pending', 'waiting for approval', v.agents.pending)}</dl></div>
<div class="card"><h3>Deployments</h3><dl class="stats">${stat('deployments.provisioning', 'provisioning', v.deployments.provisioning)}${stat('deployments.active', 'active', v.deployments.active)}${stat('deployments.grace', 'in grace', v.deployments.grace)}${stat('deployments.deprovisioned', 'deprovisioned', v.deployments.deprovisioned)}</dl></div>
<div class="card"><h3>Customers</h3><dl class="stats">${stat('customers.total', 'total', v.customers.total)}${stat('customers.lowFunds', 'low funds', v.customers.lowFunds)}${stat('customers.inGrace', 'in grace', v.customers.inGrace)}${stat('customers.outOfFunds', 'out of funds', v.customers.outOfFunds)}</dl></div>
<div class="card"><h3>Money (${v.revenue.unit})</h3><dl class="stats">${stat('revenue.total', 'charged', v.revenue.total)}${stat('payouts.total', 'paid to farmers', v.payouts.total)}${stat('revenue.arrears', 'in arrears', v.revenue.arrears)}</dl></div>
<div class="card"><h3>Orders</h3><dl class="stats">${Object.keys(v.orders).length === 0 ? html`<dt>none yet</dt><dd></dd>` : Object.entries(v.orders).map(([state, n]) => stat(`orders.${state}`, state, n))}</dl></div>
</div>
</section>`;
}

/** The billing facts and its recent errors. */
function billing(b: OverviewView['billing']): SafeHtml {
  return html`<section aria-labelledby="h-billing">
<h2 id="h-billing">Billing</h2>
<dl class="facts">
<dt>last run</dt><dd data-stat="billing.lastRunAt">${time(b.lastRunAt)}</dd>
<dt>closed through</dt><dd>${time(b.lastPeriodEnd)}</dd>
<dt>errors</dt><dd data-stat="billing.errors">${b.errors}</dd>
<dt>last error</dt><dd>${b.lastError ?? html`<span class="muted">none</span>`}</dd>
<dt>ledger</dt><dd data-stat="billing.ledger">${b.ledgerDown === null ? html`<span class="state-up">reachable</span>` : html`<span class="state-down">down: ${b.ledgerDown}</span>`}</dd>
</dl>
${b.recentErrors.length > 0 ? html`<h3>Recent billing errors</h3>${timelineTable(b.recentErrors, 'billing-errors', { newestFirst: true, alreadyNewestFirst: true })}` : ''}
</section>`;
}
