// The small pieces every admin view prints: times, state badges, yes/no, and links to a deployment, customer or node page.
import { html, type SafeHtml } from '../../render/html.js';
import { adminPath } from '../admin-path.js';

/** Times are printed as on the customer page. */
export { time } from '../../render/time.js';

/** A deployment's or order's state, coloured by the base style's `state-*` rules. */
export function stateBadge(state: string): SafeHtml {
  return html`<span class="state state-${state}">${state}</span>`;
}

/** A node's state. */
export function upDown(up: boolean): SafeHtml {
  return up ? html`<span class="state state-up">up</span>` : html`<span class="state state-down">down</span>`;
}

/** A flag in words. */
export function yesNo(v: boolean): string {
  return v ? 'yes' : 'no';
}

/** A link to a deployment's page. */
export function deploymentLink(id: string): SafeHtml {
  return html`<a href="${adminPath('deployments', id)}">${id}</a>`;
}

/** A link to a customer's page. */
export function customerLink(agent: string): SafeHtml {
  return html`<a href="${adminPath('customers', agent)}">${agent}</a>`;
}

/** A link to a node's page. */
export function nodeLink(id: string): SafeHtml {
  return html`<a href="${adminPath('nodes', id)}">${id}</a>`;
}

/** A heartbeat's age in words. */
export function heartbeatAge(seconds: number | null): string {
  return seconds === null ? 'never' : `${seconds} s ago`;
}
