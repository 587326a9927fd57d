// The admin status page's style sheet: served inline and allowed by its hash in the page's Content-Security-Policy.
import { html } from '../render/html.js';

/** The CSS text (nothing loaded from elsewhere). */
export const STATUS_PAGE_STYLE = html`
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fbfbfa; --muted: #5b6470; --line: #d9dcdf; --card: #fff; --bad: #b42318; --warn: #9a6700; --good: #1a7f37; --accent: #0b5cad; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8ea; --bg: #15181b; --muted: #9aa3ad; --line: #343a40; --card: #1d2125; --bad: #ff7b72; --warn: #d29922; --good: #3fb950; --accent: #58a6ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); background: var(--card); }
header .home { font-weight: 700; color: var(--fg); text-decoration: none; }
header form { display: flex; gap: .4rem; flex: 1; max-width: 44rem; }
header input { flex: 1; font: inherit; padding: .3rem .5rem; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
header button { font: inherit; padding: .3rem .8rem; }
#refresh-status { color: var(--muted); font-size: 12px; }
main { padding: 1rem 1.2rem 3rem; max-width: 90rem; }
h1 { font-size: 1.3rem; margin: .2rem 0 1rem; word-break: break-all; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
a { color: var(--accent); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(13rem, 1fr)); gap: .7rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .5rem .8rem; }
.card h3 { font-size: .85rem; margin: 0 0 .3rem; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
dl.stats { margin: 0; display: grid; grid-template-columns: 1fr auto; gap: .1rem .8rem; }
dl.stats dt { color: var(--muted); }
dl.stats dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-all; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.id { word-break: break-all; }
.answer { border-left: 4px solid var(--accent); background: var(--card); padding: .6rem .9rem; margin: 0 0 1rem; }
.answer.bad { border-color: var(--bad); }
.answer.warn { border-color: var(--warn); }
.answer p { margin: .2rem 0; }
.banner { border: 1px solid var(--bad); color: var(--bad); padding: .5rem .8rem; border-radius: 4px; margin-bottom: 1rem; }
.state { font-weight: 600; }
.state-active, .state-up, .ev-good { color: var(--good); }
.state-grace, .ev-warn { color: var(--warn); }
.state-deprovisioned, .state-down, .state-failed, .ev-bad { color: var(--bad); }
.muted, .generated { color: var(--muted); }
.chart { max-width: 48rem; display: block; }
.chart .bar-charged { fill: var(--accent); }
.chart .bar-paid { fill: var(--good); }
.chart .axis { stroke: var(--line); }
.chart text { fill: var(--muted); font-size: 10px; }
`;
