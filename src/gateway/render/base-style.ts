// The style sheet both pages start from (colours, type, header, tables, states, event severities, forms); each page adds a few rules of its own.
import { html, type SafeHtml } from './html.js';

/**
 * The shared rules. The colours meet WCAG AA contrast on both schemes (the customer page's axe
 * check holds them to it); `.ev-*` are the timeline's severities from the event catalogue.
 */
export const BASE_STYLE = html`
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fbfbfa; --muted: #555e69; --line: #d9dcdf; --card: #fff; --bad: #b42318; --warn: #8a5a00; --good: #1a7f37; --accent: #0b5cad; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8ea; --bg: #15181b; --muted: #a3acb6; --line: #343a40; --card: #1d2125; --bad: #ff7b72; --warn: #d29922; --good: #3fb950; --accent: #58a6ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); background: var(--card); }
header .home { font-weight: 700; color: var(--fg); text-decoration: none; }
#refresh-status { color: var(--muted); font-size: 13px; }
main { padding: 1rem 1.2rem 3rem; max-width: 70rem; }
h1 { font-size: 1.3rem; margin: .2rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
a { color: var(--accent); }
code, pre { font: 13px/1.4 ui-monospace, monospace; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-all; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.id { word-break: break-all; }
.note { border-left: 4px solid var(--accent); background: var(--card); padding: .6rem .9rem; margin: 0 0 1rem; }
.note.bad { border-color: var(--bad); }
.note.warn { border-color: var(--warn); }
.note.good { border-color: var(--good); }
.note p { margin: .2rem 0; }
.state { font-weight: 600; }
.state-active, .state-up, .ev-good { color: var(--good); }
.state-grace, .state-awaiting_payment, .state-provisioning, .state-paid, .ev-warn { color: var(--warn); }
.state-deprovisioned, .state-down, .state-failed, .state-expired, .ev-bad { color: var(--bad); }
.muted { color: var(--muted); }
input, select, textarea, button { font: inherit; }
input, select, textarea { width: 100%; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
button { padding: .4rem 1rem; border: 1px solid var(--accent); border-radius: 4px; background: var(--accent); color: #fff; cursor: pointer; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
`;

/** A page's whole style sheet: the base, then the page's own rules (which win where they differ). */
export function pageStyle(own: SafeHtml): SafeHtml {
  return html`${BASE_STYLE}${own}`;
}
