// Renders the customer page from the same typed view models the JSON API answers with: pure functions, every value escaped by `html`.
import { pageCsp } from '../render/page-csp.js';
import { html, type SafeHtml } from '../render/html.js';
import type { OfferView } from '../offers.js';
import type { DeploymentView } from '../deployments/deployment-service.js';
import type { BalanceView, OrderView } from '../http/customer-views.js';
import type { AnyReceipt } from '../../protocol/receipt.js';
import { PAGE_STYLE } from './page-style.js';
import { REFRESH_SCRIPT } from '../render/refresh-script.js';
import { table } from '../render/table.js';
import { requestsTable, type RequestRow } from '../market/requests-table.js';
import { eventClass } from '../render/event-class.js';
import { time } from '../render/time.js';
import type { HistoryRow } from './deployment-history.js';

/** Seconds between refreshes of the live part (balance, orders, deployments). */
export const LIVE_REFRESH_SECONDS = 3;

/** What the gateway knows of the caller. */
export interface CallerView {
  readonly address: string;
  readonly subnet: string;
  readonly agent?: string;
}

/** An offer as the page lists it: the API's view plus the deposit an order takes. */
export type OfferRow = OfferView & { readonly deposit: string; readonly depositHours: number };

/** Everything a linked customer's page shows. */
export interface CustomerLiveView {
  /** Null when the ledger cannot be reached. */
  readonly balance: BalanceView | null;
  readonly orders: readonly OrderView[];
  readonly deployments: readonly DeploymentView[];
}

/** The whole home page. */
export interface CustomerPageView {
  readonly gateway: { readonly url: string; readonly agent: string };
  readonly caller: CallerView;
  /** Absent for an unlinked caller. */
  readonly linked?: CustomerLiveView & {
    /** Offers with the deposit an order of each takes, or null when the nodes' capacity cannot be read. */
    readonly offers: readonly OfferRow[] | null;
    /** SSH keys of the customer's earlier orders, newest first, to pick instead of pasting. */
    readonly earlierKeys: readonly string[];
    /** The customer's capacity requests with their bids, newest first. */
    readonly requests?: readonly RequestRow[];
  };
  /** A confirmation after a form was done (from the fixed catalogue in the routes). */
  readonly notice?: string;
}

/** The page's Content-Security-Policy: its own style sheet and script by hash, same-origin fetches and forms, nothing else. */
export const CUSTOMER_PAGE_CSP = pageCsp(PAGE_STYLE);

/** A whole document around `main`; `live` adds the refresh script. */
export function renderPage(title: string, main: SafeHtml, live: boolean): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<link rel="icon" href="data:,">
<title>${title} · hypha</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<header>
<a class="home" href="/">hypha</a>
<span id="refresh-status" role="status">${live ? html`<a href="/">Refresh</a>` : ''}</span>
</header>
<main id="main">
${main}
</main>
${live ? html`<script>${REFRESH_SCRIPT}</script>` : ''}
</body>
</html>
`.text;
}

/** The home page's `<main>`. */
export function renderHome(v: CustomerPageView): SafeHtml {
  const c = v.caller;
  return html`
<h1>Your VMs on hypha</h1>
${v.notice ? html`<div class="note good" id="notice" role="status"><p>${v.notice}</p></div>` : ''}
<section aria-labelledby="h-you">
<h2 id="h-you">You</h2>
<dl class="facts">
<dt>Your address</dt><dd id="you-address">${c.address}</dd>
<dt>Your /64</dt><dd id="you-subnet">${c.subnet}</dd>
<dt>Linked to</dt><dd id="you-agent">${c.agent ?? 'nothing yet'}</dd>
<dt>Gateway</dt><dd>${v.gateway.url}</dd>
</dl>
</section>
${v.linked ? renderLinked(v.linked, v.gateway.url) : renderUnlinked(v)}
`;
}

function renderUnlinked(v: CustomerPageView): SafeHtml {
  return html`
<section aria-labelledby="h-link" id="link">
<h2 id="h-link">Link this address first</h2>
<p>The gateway knows you only by your Mycelium address: every request from your /64 <code>${v.caller.subnet}</code> is you.
To buy a VM, this /64 must be linked to your Unyt identity (your AgentPubKey), so orders are paid from your Unyt agreement and receipts name you.
Linking proves you hold the key: the gateway sends a challenge bound to this /64, and you sign it.</p>
<p>On this machine, with your Unyt key file:</p>
<pre id="link-command">./bin/hypha.js link --gateway ${v.gateway.url} --key YOUR.key</pre>
<p class="muted">No key yet? <code>./bin/hypha.js id new --out YOUR.key</code> makes one (keep it private: 0600). Then reload this page.</p>
</section>
`;
}

function renderLinked(v: NonNullable<CustomerPageView['linked']>, gatewayUrl: string): SafeHtml {
  return html`
<div id="live" aria-live="polite" data-refresh-seconds="${LIVE_REFRESH_SECONDS}">
${renderLive(v, gatewayUrl)}
</div>
<section aria-labelledby="h-offers">
<h2 id="h-offers">Offers</h2>
${v.offers === null ? html`<p class="note warn">The nodes' free capacity cannot be read right now; try again in a minute.</p>` : offersTable(v.offers)}
</section>
${v.offers === null ? '' : buyForm(v.offers, v.earlierKeys)}
<section aria-labelledby="h-requests" id="requests">
<h2 id="h-requests">Capacity requests</h2>
<p>Ask farmers to bid for a size at your price: <code>POST ${gatewayUrl}/v1/requests</code>, then accept a bid with <code>POST ${gatewayUrl}/v1/requests/ID/accept</code> (docs/api.md, "Capacity requests").</p>
${requestsTable(v.requests ?? [], 'requests', false)}
</section>
`;
}

/** The part of the page that refreshes in place: funds, orders, deployments. */
export function renderLive(v: CustomerLiveView, gatewayUrl: string): SafeHtml {
  return html`
<section aria-labelledby="h-funds" id="funds">
<h2 id="h-funds">Funds</h2>
${fundsPart(v.balance, gatewayUrl)}
</section>
<section aria-labelledby="h-orders" id="orders">
<h2 id="h-orders">Orders</h2>
${table<OrderView>(
  [
    { header: 'Order', cell: (o) => html`<code>${o.id}</code>` },
    { header: 'Name', cell: (o) => o.name },
    { header: 'Offer', cell: (o) => o.offer },
    { header: 'State', cell: (o) => stateText(o.state) },
    { header: 'Deposit', cell: (o) => `${o.deposit} ${o.unit}`, num: true },
    { header: 'Next', cell: (o) => orderNext(o) },
  ],
  v.orders,
  'No orders yet: buy a VM below.',
  { label: 'orders' },
)}
</section>
<section aria-labelledby="h-deployments" id="deployments">
<h2 id="h-deployments">Deployments</h2>
${table<DeploymentView>(
  [
    { header: 'Deployment', cell: (d) => html`<code>${d.id}</code><br>${d.name}` },
    { header: 'State', cell: (d) => html`${stateText(d.state)}${d.paused ? html`<br><span class="muted">paused</span>` : ''}${graceText(d)}` },
    { header: 'Up (billed)', cell: (d) => durationText(d.upSeconds), num: true },
    { header: 'Charged', cell: (d) => html`${d.charged} ${d.unit}${d.arrears !== '0.000000' ? html`<br><span class="muted">unpaid ${d.arrears}</span>` : ''}`, num: true },
    { header: 'SSH', cell: (d) => (d.ssh ? html`<code data-ssh="${d.id}">${d.ssh}</code>` : html`<span class="muted">ended${d.endReason ? ` (${d.endReason})` : ''}</span>`) },
    { header: 'Manage', cell: (d) => manageLinks(d) },
  ],
  v.deployments,
  'No deployments yet.',
  { label: 'deployments' },
)}
</section>
`;
}

function fundsPart(b: BalanceView | null, gatewayUrl: string): SafeHtml {
  if (b === null) return html`<p class="note warn">The ledger cannot be reached right now, so your balance is unknown; try again in a minute.</p>`;
  const warn = b.toPay
    ? html`<div class="note bad" id="low-funds" role="alert"><p><strong>${b.inGrace > 0 ? 'Your VMs are in grace.' : 'Charges are unpaid.'}</strong> ${b.toPay.advice}</p>
<p>Pay <strong id="to-pay">${b.toPay.pay} ${b.toPay.unit}</strong> into your Unyt agreement${b.toPay.by ? html` before <time id="pay-by" datetime="${b.toPay.by}">${b.toPay.by}</time>` : ''}. The gateway sees the payment within a minute and resumes your VMs.</p></div>`
    : b.lowFunds
      ? html`<div class="note warn" id="low-funds" role="alert"><p><strong>Funds are low:</strong> ${b.runwayHours !== undefined ? `about ${b.runwayHours} h left at your VMs' price.` : ''} Add funds to your Unyt agreement before they run out; then your VMs enter grace and are paused.</p></div>`
      : '';
  return html`${warn}
<dl class="facts">
<dt>Available</dt><dd id="balance">${b.available} ${b.unit}</dd>
<dt>Unpaid charges</dt><dd id="arrears">${b.arrears} ${b.unit}</dd>
<dt>Runway</dt><dd id="runway">${b.runwayHours !== undefined ? `${b.runwayHours} h at the current price` : 'nothing is running'}</dd>
</dl>
<p class="muted">Balance as JSON: <code>curl -s ${gatewayUrl}/v1/balance</code></p>`;
}

function offersTable(offers: readonly OfferRow[]): SafeHtml {
  return table<OfferRow>(
    [
      { header: 'Offer', cell: (o) => o.id },
      { header: 'CPU', cell: (o) => o.cpu, num: true },
      { header: 'Memory', cell: (o) => `${o.memoryGb} GB`, num: true },
      { header: 'Disk', cell: (o) => `${o.diskGb} GB`, num: true },
      { header: 'Price', cell: (o) => `${o.pricePerHour} ${o.unit}/h`, num: true },
      { header: 'Deposit', cell: (o) => `${o.deposit} ${o.unit} (${o.depositHours} h)`, num: true },
      { header: 'Available', cell: (o) => (o.available > 0 ? `${o.available} now` : 'none right now'), num: true },
    ],
    offers,
    'This gateway offers nothing right now.',
    { label: 'offers' },
  );
}

/**
 * The buy form. An offer with no room right now stays choosable: room is a snapshot (a node that
 * missed a heartbeat, a VM being cancelled), and a paid order waits for it a while
 * (orders.roomWaitHours); a form whose every option was disabled could not be sent at all.
 */
function buyForm(offers: readonly OfferView[], earlierKeys: readonly string[]): SafeHtml {
  const firstFree = offers.find((o) => o.available > 0)?.id;
  return html`
<section aria-labelledby="h-buy" id="buy">
<h2 id="h-buy">Buy a VM</h2>
<form class="stack" method="post" action="/page/orders" id="buy-form">
<div><label for="buy-offer">Offer</label>
<select id="buy-offer" name="offer" required>${offers.map((o) => html`<option value="${o.id}"${o.id === firstFree ? html` selected` : ''}>${o.id}: ${o.cpu} CPU, ${o.memoryGb} GB, ${o.pricePerHour} ${o.unit}/h${o.available > 0 ? '' : ' (no room right now)'}</option>`)}</select></div>
<div><label for="buy-name">Name (optional: lower-case letters, digits and -)</label>
<input id="buy-name" name="name" maxlength="32" pattern="[a-z0-9][a-z0-9\\-]{0,31}" autocomplete="off" spellcheck="false"></div>
<div><label for="buy-key">SSH public key (paste a line such as <code>ssh-ed25519 AAAA… you@laptop</code>)</label>
<textarea id="buy-key" name="sshKey" spellcheck="false" autocomplete="off"></textarea></div>
${earlierKeys.length > 0
  ? html`<div><label for="buy-earlier">…or a key from an earlier order</label>
<select id="buy-earlier" name="earlierKey"><option value="">(none: use the pasted key)</option>${earlierKeys.map((k) => html`<option value="${k}">${keyLabel(k)}</option>`)}</select></div>`
  : ''}
<div><button type="submit" id="buy-submit">Order</button></div>
<p class="muted">The order waits for payment: fund your Unyt agreement with its deposit, and it becomes active within a minute.</p>
</form>
</section>`;
}

function orderNext(o: OrderView): SafeHtml {
  if (o.state === 'awaiting_payment') return html`Pay <strong>${o.payment.deposit} ${o.unit}</strong> into your Unyt agreement${o.expiresAt ? html` before ${o.expiresAt}` : ''}.`;
  if (o.deployment?.ssh) return html`<code data-order-ssh="${o.id}">${o.deployment.ssh}</code>`;
  if (o.failure) return html`<span>${o.failure}</span>`;
  if (o.state === 'paid' || o.state === 'provisioning') return html`Paid; the VM is being started.`;
  return html`<span class="muted">—</span>`;
}

function manageLinks(d: DeploymentView): SafeHtml {
  const base = `/page/deployments/${encodeURIComponent(d.id)}`;
  return html`<span class="actions"><a href="${base}/receipts">Receipts</a>${d.state !== 'deprovisioned' ? html` <a href="${base}/keys">Replace SSH key</a> <a href="${base}/cancel">Cancel…</a>` : ''}</span>`;
}

function graceText(d: DeploymentView): SafeHtml | string {
  if (d.state !== 'grace') return '';
  return html`<br><span class="grace" data-grace="${d.id}">deprovisioned at <time datetime="${d.graceUntil ?? ''}">${d.graceUntil ?? 'the end of grace'}</time> unless you pay ${d.toPay ? html`<strong>${d.toPay.pay} ${d.toPay.unit}</strong>` : 'what is due'}</span>`;
}

function stateText(state: string): SafeHtml {
  const words: Readonly<Record<string, string>> = { awaiting_payment: 'awaiting payment', paid: 'paid', provisioning: 'starting', active: 'active', grace: 'in grace', deprovisioned: 'ended', failed: 'failed', expired: 'expired' };
  return html`<span class="state state-${state}" data-state="${state}">${words[state] ?? state}</span>`;
}

/** Seconds as "2 h 5 min" / "42 s". */
function durationText(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min`;
}

/** An SSH key as a person tells it apart: its type, its comment, and the end of its data. */
export function keyLabel(line: string): string {
  const [type = '', data = '', ...comment] = line.split(/\s+/);
  return `${type} …${data.slice(-12)}${comment.length > 0 ? ` ${comment.join(' ')}` : ''}`;
}

/** The confirmation step before cancelling. */
export function renderCancelConfirm(d: DeploymentView): SafeHtml {
  const action = `/page/deployments/${encodeURIComponent(d.id)}/cancel`;
  return html`
<h1>Cancel ${d.name}?</h1>
<p>Cancelling <code>${d.id}</code> stops its VM (<code>${d.myceliumIp}</code>) and destroys it with its disk. It is billed up to now; this cannot be undone.</p>
<form method="post" action="${action}" class="actions" id="cancel-form">
<input type="hidden" name="confirm" value="yes">
<button type="submit" class="danger" id="cancel-confirm">Yes, cancel and destroy it</button>
<a href="/">No, keep it</a>
</form>`;
}

/** The form for new SSH keys. */
export function renderKeysForm(d: DeploymentView): SafeHtml {
  return html`
<h1>Replace the SSH key of ${d.name}</h1>
<p>The keys you enter replace every key on <code>${d.id}</code>: the old ones stop working.</p>
<form method="post" action="/page/deployments/${encodeURIComponent(d.id)}/keys" class="stack" id="keys-form">
<div><label for="keys-new">New SSH public keys (one per line)</label>
<textarea id="keys-new" name="sshKeys" required spellcheck="false" autocomplete="off"></textarea></div>
<div class="actions"><button type="submit" id="keys-next">Next: confirm</button> <a href="/">Back</a></div>
</form>`;
}

/** The confirmation step before replacing keys: the keys as the gateway read them. */
export function renderKeysConfirm(d: DeploymentView, keys: readonly string[]): SafeHtml {
  return html`
<h1>Replace the keys of ${d.name}?</h1>
<p>These ${keys.length} key(s) will be the only ones that open <code>${d.id}</code>:</p>
<ul>${keys.map((k) => html`<li><code>${keyLabel(k)}</code></li>`)}</ul>
<form method="post" action="/page/deployments/${encodeURIComponent(d.id)}/keys" class="actions" id="keys-confirm-form">
<input type="hidden" name="sshKeys" value="${keys.join('\n')}">
<input type="hidden" name="confirm" value="yes">
<button type="submit" class="danger" id="keys-confirm">Yes, replace the keys</button>
<a href="/">No, keep the old keys</a>
</form>`;
}

/** A deployment's receipts (a table, the JSON download and how to verify it) and its history. */
export function renderReceipts(d: DeploymentView, receipts: readonly AnyReceipt[], gateway: { url: string; agent: string }, history: readonly HistoryRow[]): SafeHtml {
  const file = `receipts-${d.id}.json`;
  return html`
<h1>Receipts of ${d.name}</h1>
<p><code>${d.id}</code>, ${d.offer} at ${d.pricePerHour} ${d.unit}/h. Each billed period has a receipt; the gateway signs one tree head over all of a period's receipts (each receipt carries its proof), and the farmer countersigns its own.</p>
${table<AnyReceipt>(
  [
    { header: 'Period start', cell: (r) => r.periodStart },
    { header: 'Period end', cell: (r) => r.periodEnd },
    { header: 'Up', cell: (r) => durationText(r.upSeconds), num: true },
    { header: 'Amount', cell: (r) => `${r.amount} ${r.unit}`, num: true },
    { header: 'Farmer signed', cell: (r) => (('countersign' in r ? r.countersign : r.v === 1 ? r.signatures.farmer : undefined) !== undefined ? 'yes' : 'not yet') },
    { header: 'Receipt', cell: (r) => html`<code>${r.id}</code>${r.final ? ' (final)' : ''}` },
  ],
  receipts,
  'No receipts yet: the first comes when the first billing period closes.',
  { label: 'receipts' },
)}
<p><a href="/page/deployments/${encodeURIComponent(d.id)}/receipts.json" download="${file}" id="receipts-download">Download the receipts as JSON</a></p>
<p>Check them offline (signatures, chain and arithmetic):</p>
<pre id="verify-command">./bin/hypha.js receipt verify ${file} --gateway ${gateway.agent}</pre>
<section aria-labelledby="h-history">
<h2 id="h-history">What happened</h2>
${table<HistoryRow>(
  [
    { header: 'Time', cell: (e) => time(e.at) },
    { header: 'Event', cell: (e) => e.event, className: (e) => eventClass(e.event) },
    { header: 'Detail', cell: (e) => e.detail },
  ],
  history,
  'Nothing recorded yet.',
  { id: 'history', caption: 'newest first', rowData: (e) => ({ event: e.event }) },
)}
</section>
<p><a href="/">Back</a></p>`;
}

/** An error or a refusal, in the page's words, with the API's hint. */
export function renderMessage(title: string, message: string, hint?: string): SafeHtml {
  return html`
<h1>${title}</h1>
<div class="note bad" role="alert" id="error"><p id="error-message">${message}</p>${hint ? html`<p class="muted" id="error-hint">${hint}</p>` : ''}</div>
<p><a href="/">Back to your page</a></p>`;
}
