// The customer page's own style rules on top of the shared base (render/base-style.ts): command blocks, the stacked forms and the danger button.
import { html } from '../render/html.js';
import { pageStyle } from '../render/base-style.js';

/** The customer page's whole style sheet (base + these rules), served inline and allowed by its hash; nothing loaded from elsewhere. */
export const PAGE_STYLE = pageStyle(html`
pre { background: var(--card); border: 1px solid var(--line); padding: .5rem .7rem; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
form.stack { display: grid; gap: .6rem; max-width: 44rem; }
form.stack label { font-weight: 600; display: block; }
textarea { min-height: 5rem; font: 13px/1.4 ui-monospace, monospace; }
button.danger { border-color: var(--bad); background: var(--bad); }
.actions { display: flex; gap: .8rem; align-items: center; flex-wrap: wrap; }
`);
