// The admin status page's own style rules on top of the shared base (render/base-style.ts): denser type, the search box, cards and the chart.
import { html } from '../render/html.js';
import { pageStyle } from '../render/base-style.js';

/** The admin page's whole style sheet (base + these rules), served inline and allowed by its hash. */
export const STATUS_PAGE_STYLE = pageStyle(html`
body { font-size: 14px; line-height: 1.45; }
header form { display: flex; gap: .4rem; flex: 1; max-width: 44rem; }
header input { flex: 1; width: auto; padding: .3rem .5rem; }
header button { padding: .3rem .8rem; }
main { max-width: 90rem; }
th, td { padding: .25rem .5rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(13rem, 1fr)); gap: .7rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .5rem .8rem; }
.card h3 { font-size: .85rem; margin: 0 0 .3rem; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
dl.stats { margin: 0; display: grid; grid-template-columns: 1fr auto; gap: .1rem .8rem; }
dl.stats dt { color: var(--muted); }
dl.stats dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
.banner { border: 1px solid var(--bad); color: var(--bad); padding: .5rem .8rem; border-radius: 4px; margin-bottom: 1rem; }
.generated { color: var(--muted); }
.chart { max-width: 48rem; display: block; }
.chart .bar-charged { fill: var(--accent); }
.chart .bar-paid { fill: var(--good); }
.chart .axis { stroke: var(--line); }
.chart text { fill: var(--muted); font-size: 10px; }
`);
