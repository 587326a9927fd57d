// The admin deployment view (GET /admin/deployments/{id}): why it ended on top, then its facts, order, payment, provisioning, grace, receipts and timeline.
import { html, type SafeHtml } from '../../render/html.js';
import { table } from '../../render/table.js';
import type { EventName } from '../../events/event-catalogue.js';
import type { DeploymentDetailView, EventRow, OrderSummary, ReceiptSummary } from '../admin-view-types.js';
import { customerLink, nodeLink, stateBadge, time, yesNo } from './cells.js';
import { timelineTable } from './timeline-table.js';

/** The events of the payment check and of provisioning, each shown in its own table. */
const PAYMENT_EVENTS: ReadonlySet<EventName> = new Set(['order.created', 'order.payment_checked', 'order.payment_unavailable', 'order.paid', 'order.expired']);
const PROVISIONING_EVENTS: ReadonlySet<EventName> = new Set(['order.provisioning', 'order.provision_failed', 'order.failed', 'order.active', 'deployment.active']);

/** GET /admin/deployments/{id}: everything that happened to one deployment, with the answer to "why did it end?" on top. */
export function renderDeployment(v: DeploymentDetailView): SafeHtml {
  const d = v.deployment;
  const last = (name: EventName): EventRow | undefined => [...v.timeline].reverse().find((e) => e.event === name);
  const lifecycle = v.timeline.filter((e) => e.event.startsWith('deployment.') && e.event !== 'deployment.active');
  return html`
<h1>Deployment ${d.id} ${stateBadge(d.state)}</h1>
${outcome(d, last('deployment.grace'), last('deployment.deprovisioned'))}
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
${d.access !== undefined ? html`<dt>access</dt><dd data-field="access">${d.access.state}${d.access.how !== undefined ? ` (${d.access.how})` : ''}; held ${d.access.held}, returned ${d.access.returned}</dd>` : ''}
<dt>VM destroyed</dt><dd>${yesNo(d.destroyed)}</dd>
</dl>
</section>

<section aria-labelledby="h-order">
<h2 id="h-order">Order, payment check and provisioning</h2>
${v.order === null ? html`<p class="muted">The order ${d.order} is not in the store.</p>` : order(v.order, v.timeline, d.unit)}
</section>

<section aria-labelledby="h-lifecycle">
<h2 id="h-lifecycle">Grace, resume and deprovisioning</h2>
${timelineTable(lifecycle, 'lifecycle', { linkDeployments: false, empty: 'Nothing yet: the deployment has not been paused, in grace or ended.' })}
</section>

<section aria-labelledby="h-receipts">
<h2 id="h-receipts">Receipts and payouts</h2>
${table<ReceiptSummary>(
  [
    { header: 'receipt', cell: (r) => html`${r.id}${r.final ? html` <span class="muted">(final)</span>` : ''}`, className: 'id' },
    { header: 'period', cell: (r) => html`${time(r.periodStart)} – ${time(r.periodEnd)}` },
    { header: 'up-seconds', cell: (r) => r.upSeconds, num: true },
    { header: 'amount', cell: (r) => r.amount, num: true },
    { header: 'farmer share', cell: (r) => r.farmerShare, num: true },
    { header: 'state', cell: (r) => (r.escrow === 'held' ? 'held (access escrow)' : r.state === 'arrears' ? 'unpaid (arrears)' : r.state), className: (r) => (r.state === 'arrears' ? 'ev-bad' : r.state === 'paid' ? 'ev-good' : '') },
    { header: 'countersigned', cell: (r) => (r.countersigned ? 'yes' : r.countersignRefused ? html`<span class="ev-bad">refused: ${r.countersignRefused}</span>` : 'no') },
    { header: 'farmer paid', cell: (r) => yesNo(r.paidOut) },
  ],
  v.receipts,
  'No receipts yet.',
  { id: 'receipts', rowData: (r) => ({ 'receipt-state': r.state }) },
)}
</section>

<section aria-labelledby="h-timeline">
<h2 id="h-timeline">Timeline</h2>
${timelineTable(v.timeline, 'timeline', { linkDeployments: false })}
</section>
`;
}

/** The order's facts, its payment check and provisioning events, and failed deploy attempts. */
function order(o: OrderSummary, timeline: readonly EventRow[], unit: string): SafeHtml {
  return html`<dl class="facts">
<dt>order</dt><dd class="id">${o.id} (${o.state})</dd>
<dt>offer</dt><dd>${o.offer}</dd>
<dt>deposit</dt><dd>${o.deposit} ${unit}</dd>
<dt>ordered</dt><dd>${time(o.createdAt)}</dd>
<dt>paid</dt><dd>${o.paidAt ? time(o.paidAt) : html`<span class="muted">not yet</span>`}</dd>
${o.failure ? html`<dt>failure</dt><dd class="ev-bad">${o.failure}</dd>` : ''}
</dl>
<h3>Payment check</h3>
${timelineTable(timeline.filter((e) => PAYMENT_EVENTS.has(e.event)), 'payment', { linkDeployments: false, empty: 'No payment events.' })}
<h3>Provisioning</h3>
${timelineTable(timeline.filter((e) => PROVISIONING_EVENTS.has(e.event)), 'provisioning', { linkDeployments: false, empty: 'No provisioning events.' })}
${
  o.attempts.length === 0
    ? ''
    : table<OrderSummary['attempts'][number]>(
        [
          { header: 'time', cell: (a) => time(a.at) },
          { header: 'node', cell: (a) => nodeLink(a.node) },
          { header: 'error', cell: (a) => a.error },
        ],
        o.attempts,
        '',
        { id: 'attempts', caption: 'Failed deploy attempts' },
      )
}`;
}

/** The answer on top: deprovisioned (when, why), in grace (until when), or running. */
function outcome(d: DeploymentDetailView['deployment'], graceStarted: EventRow | undefined, ended: EventRow | undefined): SafeHtml {
  if (d.state === 'deprovisioned') {
    return html`<div class="note bad" id="outcome">
<p data-field="why"><strong>Deprovisioned</strong> at ${time(d.endedAt ?? ended?.at ?? null)}, reason <strong>${d.endReason ?? 'unknown'}</strong>${ended ? html`: ${ended.detail}` : ''}.</p>
${graceStarted ? html`<p>Grace had started at ${time(graceStarted.at)}: ${graceStarted.detail}.</p>` : ''}
</div>`;
  }
  if (d.state === 'grace') {
    return html`<div class="note warn" id="outcome">
<p data-field="why"><strong>In grace</strong> until ${time(d.graceUntil ?? null)}${d.paused ? ', VM paused' : ''}${graceStarted ? html` — since ${time(graceStarted.at)}: ${graceStarted.detail}` : ''}.</p>
</div>`;
  }
  return html`<div class="note" id="outcome"><p data-field="why">${d.state === 'active' ? 'Active' : d.state}; the VM is ${d.vmUp ? 'up' : 'not up'} right now.</p></div>`;
}
