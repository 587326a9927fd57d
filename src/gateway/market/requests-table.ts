// Capacity requests and their bids as the customer page and the admin status page both list them (one renderer, escaped by `html`).
import { html, type SafeHtml } from '../render/html.js';
import { table } from '../render/table.js';
import type { BidView, RequestListing } from './market-service.js';

/** A listing, with the customer it belongs to when the admin page shows it. */
export type RequestRow = RequestListing & { readonly customer?: string };

function bidsCell(bids: readonly BidView[]): SafeHtml | string {
  if (bids.length === 0) return 'none';
  return html`<ol class="bids">${bids.map(
    (b) => html`<li data-bid-node="${b.node}"><strong>${b.pricePerHour} ${b.unit}/h</strong> on ${b.node} until ${b.validUntil}; up ${b.farmerRecord.upPercent === null ? 'no record' : `${b.farmerRecord.upPercent} %`} over ${b.farmerRecord.periods} period(s), ${b.farmerRecord.disputes} dispute(s)</li>`,
  )}</ol>`;
}

/** The requests as a table: size, maximum, state (and why), and the bids cheapest first. */
export function requestsTable(rows: readonly RequestRow[], label: string, withCustomer: boolean): SafeHtml {
  return table<RequestRow>(
    [
      { header: 'request', cell: (r) => html`<span class="id">${r.request.id}</span>` },
      ...(withCustomer ? [{ header: 'customer', cell: (r: RequestRow) => html`<span class="id">${r.customer ?? ''}</span>` }] : []),
      { header: 'size', cell: (r) => `${r.request.cpu} vCPU, ${r.request.memoryGb} GB RAM, ${r.request.diskGb} GB disk` },
      { header: 'at most', cell: (r) => `${r.request.maxPricePerHour} ${r.request.unit}/h`, num: true },
      { header: 'state', cell: (r) => html`${r.request.state}${r.request.order !== undefined ? html` (order <span class="id">${r.request.order}</span>)` : ''}${r.request.note !== undefined ? html`<br><span class="muted">${r.request.note}</span>` : ''}` },
      { header: 'bids, cheapest first', cell: (r) => bidsCell(r.bids) },
    ],
    rows,
    'No capacity requests.',
    { label },
  );
}
