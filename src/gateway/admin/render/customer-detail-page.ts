// The admin customer view (GET /admin/customers/{agent}): did the funds run out and when, then funds, linked /64s, deployments, orders and the timeline.
import { html, type SafeHtml } from '../../render/html.js';
import { table } from '../../render/table.js';
import type { CustomerDetailView, DeploymentSummary, OrderSummary } from '../admin-view-types.js';
import { deploymentLink, nodeLink, stateBadge, time, yesNo } from './cells.js';
import { timelineTable } from './timeline-table.js';

type Link = CustomerDetailView['customer']['links'][number];

/** GET /admin/customers/{agent}: balance, arrears, links, deployments and the timeline, with "did the funds run out, and when?" on top. */
export function renderCustomer(v: CustomerDetailView): SafeHtml {
  const c = v.customer;
  return html`
<h1>Customer ${c.agent}</h1>
${fundsAnswer(v)}
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
${table<Link>(
  [
    { header: 'subnet', cell: (l) => l.subnet, className: 'id' },
    { header: 'linked from', cell: (l) => l.address, className: 'id' },
    { header: 'linked at', cell: (l) => time(l.linkedAt) },
  ],
  c.links,
  'No linked /64 (the customer unlinked, or ordered from a /64 since unlinked).',
  { id: 'links' },
)}
</section>

<section aria-labelledby="h-cdeployments">
<h2 id="h-cdeployments">Deployments</h2>
${table<DeploymentSummary>(
  [
    { header: 'deployment', cell: (d) => deploymentLink(d.id), className: 'id' },
    { header: 'state', cell: (d) => stateBadge(d.state) },
    { header: 'offer', cell: (d) => d.offer },
    { header: 'node', cell: (d) => nodeLink(d.node) },
    { header: 'up-seconds', cell: (d) => d.upSeconds, num: true },
    { header: 'charged', cell: (d) => d.charged, num: true },
    { header: 'arrears', cell: (d) => d.arrears, num: true },
    { header: 'grace until / ended', cell: (d) => (d.graceUntil !== undefined ? html`grace until ${time(d.graceUntil)}` : d.endedAt !== undefined ? html`ended ${time(d.endedAt)} (${d.endReason ?? 'unknown'})` : '') },
    { header: 'VM up', cell: (d) => yesNo(d.vmUp) },
  ],
  v.deployments,
  'None.',
  { id: 'customer-deployments' },
)}
</section>

<section aria-labelledby="h-corders">
<h2 id="h-corders">Orders</h2>
${table<OrderSummary>(
  [
    { header: 'order', cell: (o) => o.id, className: 'id' },
    { header: 'state', cell: (o) => html`${stateBadge(o.state)}${o.failure ? html` <span class="ev-bad">${o.failure}</span>` : ''}` },
    { header: 'offer', cell: (o) => o.offer },
    { header: 'deposit', cell: (o) => o.deposit, num: true },
    { header: 'ordered', cell: (o) => time(o.createdAt) },
    { header: 'paid', cell: (o) => (o.paidAt ? time(o.paidAt) : '') },
    { header: 'deployment', cell: (o) => (o.deployment ? deploymentLink(o.deployment) : ''), className: 'id' },
  ],
  v.orders,
  'None.',
  { id: 'orders' },
)}
</section>

<section aria-labelledby="h-ctimeline">
<h2 id="h-ctimeline">Timeline</h2>
${timelineTable(v.timeline, 'timeline', { newestFirst: true })}
</section>
`;
}

/** The answer on top: how often and when the customer's funds ran out, and what is in grace or ended for it. */
function fundsAnswer(v: CustomerDetailView): SafeHtml {
  const ranOut = v.timeline.filter((e) => e.event === 'deployment.grace');
  const outOfFunds = v.deployments.filter((d) => d.endReason === 'out_of_funds');
  const inGrace = v.deployments.filter((d) => d.state === 'grace');
  return html`<div class="note ${ranOut.length > 0 ? 'bad' : v.customer.lowFunds ? 'warn' : ''}" id="funds-answer">
${
  ranOut.length === 0
    ? html`<p data-field="ranOut">Funds have not run out: no deployment of this customer has gone into grace.</p>`
    : html`<p data-field="ranOut"><strong>Funds ran out</strong> ${ranOut.length === 1 ? 'once' : `${ranOut.length} times`}: first at ${time(ranOut[0]?.at ?? null)}${ranOut.length > 1 ? html`, last at ${time(ranOut[ranOut.length - 1]?.at ?? null)}` : ''}.</p>
<ul>${ranOut.map((e) => html`<li>${time(e.at)}: ${e.deployment ? deploymentLink(e.deployment) : ''} went into grace: ${e.detail}</li>`)}</ul>`
}
${inGrace.map((d) => html`<p>${deploymentLink(d.id)} is in grace until ${time(d.graceUntil ?? null)}.</p>`)}
${outOfFunds.map((d) => html`<p>${deploymentLink(d.id)} was deprovisioned for lack of funds at ${time(d.endedAt ?? null)}.</p>`)}
</div>`;
}
