// The one table helper of the server-rendered pages (admin and customer): columns with a header and a cell renderer, rows, and what to say when there are none.
import { html, type SafeHtml } from './html.js';

/** One column: its header, how a row fills it, and how its cells are marked. */
export interface Column<T> {
  readonly header: string;
  readonly cell: (row: T) => SafeHtml | string | number;
  /** A number: right-aligned, tabular figures (class `num` on the header and the cells). */
  readonly num?: boolean;
  /** A class for this column's cells, fixed or from the row (e.g. `id` for long ids, a severity class). */
  readonly className?: string | ((row: T) => string);
  /** An attribute name put, empty, on every cell of the column, so tests and scripts can find it (e.g. `data-grace-until`). */
  readonly mark?: `data-${string}`;
}

/** How the table itself is named and what each row carries. */
export interface TableOptions<T> {
  /** The table's id (admin tables are found by it). */
  readonly id?: string;
  /** Names the table for assistive technology when no caption or heading right above does. */
  readonly label?: string;
  /** A class on the table (e.g. `timeline`). */
  readonly className?: string;
  /** A line above the table ("newest first", "in SPORE"). */
  readonly caption?: SafeHtml | string;
  /** `data-*` attributes of each row, by name without the `data-` (e.g. `{ event: 'order.paid' }` gives `data-event="order.paid"`). */
  readonly rowData?: (row: T) => Readonly<Record<string, string>>;
}

/** The `data-*` attribute names the helper writes: lower-case words with dashes, so a name never carries markup. */
const DATA_NAME = /^data-[a-z][a-z0-9-]*$/;

/**
 * A table of `rows`, or `empty` as a paragraph when there are none (an empty table says nothing
 * to a screen reader); the paragraph carries `data-empty` with the table's label or id.
 */
export function table<T>(columns: readonly Column<T>[], rows: readonly T[], empty: string, o: TableOptions<T> = {}): SafeHtml {
  if (rows.length === 0) return html`<p class="muted" data-empty="${o.label ?? o.id ?? ''}">${empty}</p>`;
  const attrs = html`${o.id !== undefined ? html` id="${o.id}"` : ''}${o.className !== undefined ? html` class="${o.className}"` : ''}${o.label !== undefined ? html` aria-label="${o.label}"` : ''}`;
  return html`<table${attrs}>${o.caption !== undefined ? html`<caption class="muted">${o.caption}</caption>` : ''}<thead><tr>${columns.map((c) => html`<th scope="col"${c.num ? html` class="num"` : ''}>${c.header}</th>`)}</tr></thead>
<tbody>
${rows.map((r) => html`<tr${rowAttributes(o.rowData?.(r))}>${columns.map((c) => html`<td${cellClass(c, r)}${c.mark !== undefined ? html` ${dataName(c.mark)}=""` : ''}>${c.cell(r)}</td>`)}</tr>
`)}</tbody></table>`;
}

function cellClass<T>(c: Column<T>, row: T): SafeHtml | string {
  const own = typeof c.className === 'function' ? c.className(row) : (c.className ?? '');
  const classes = [c.num ? 'num' : '', own].filter((x) => x !== '').join(' ');
  return classes === '' ? '' : html` class="${classes}"`;
}

function rowAttributes(data: Readonly<Record<string, string>> | undefined): SafeHtml | string {
  if (data === undefined) return '';
  return html`${Object.entries(data).map(([name, value]) => html` ${dataName(`data-${name}`)}="${value}"`)}`;
}

/** A `data-*` attribute name, checked rather than escaped: escaping would not stop a space or `=` in a name. */
function dataName(name: string): string {
  if (!DATA_NAME.test(name)) throw new TypeError(`table: attribute name ${JSON.stringify(name)} must be data- and lower-case letters, digits and dashes`);
  return name;
}
