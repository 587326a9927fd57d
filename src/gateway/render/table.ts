// The one table helper of the server-rendered pages: columns with a header and a cell renderer, rows, and what to say when there are none.
import { html, type SafeHtml } from './html.js';

/** One column: its header, how a row fills it, and whether it holds a number (right-aligned). */
export interface Column<T> {
  readonly header: string;
  readonly cell: (row: T) => SafeHtml | string | number;
  readonly num?: boolean;
}

/**
 * A table of `rows`, or `empty` as a paragraph when there are none (an empty table says nothing
 * to a screen reader). `label` names the table for assistive technology and tests.
 */
export function table<T>(columns: readonly Column<T>[], rows: readonly T[], empty: string, label: string): SafeHtml {
  if (rows.length === 0) return html`<p class="muted" data-empty="${label}">${empty}</p>`;
  return html`<table aria-label="${label}"><thead><tr>${columns.map((c) => html`<th scope="col"${c.num ? html` class="num"` : ''}>${c.header}</th>`)}</tr></thead>
<tbody>${rows.map((r) => html`<tr>${columns.map((c) => html`<td${c.num ? html` class="num"` : ''}>${c.cell(r)}</td>`)}</tr>`)}</tbody></table>`;
}
