// The revenue chart of the admin overview: charged and paid-out bars per billed period, as inline SVG scaled from integer micro-units.
import { parseAmount } from '../../../protocol/money.js';
import { html, type SafeHtml } from '../../render/html.js';
import type { PeriodRow } from '../admin-view-types.js';

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

/** An amount in micro-units; 0 for one that does not parse (a chart never fails the page). */
function micros(amount: string): bigint {
  try {
    return parseAmount('amount', amount);
  } catch {
    return 0n;
  }
}

/** A period start on the chart's axis: the date and the minute (UTC), "2026-11-28 07:00Z", so bars of different days read apart. */
export function axisTime(iso: string | null): string {
  return iso === null ? '' : iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, 'Z');
}
