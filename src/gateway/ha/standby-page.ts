// What a browser opening the customer page gets from a standby gateway: a short HTML page that says why and reloads itself, not the API's JSON refusal.
import { cspHash } from '../render/csp-hash.js';
import { html, type SafeHtml } from '../render/html.js';
import { pageStyle } from '../render/base-style.js';
import { FRAGMENT_HEADER } from '../render/refresh-script.js';

const STYLE: SafeHtml = pageStyle(html`main { max-width: 40rem; margin: 3rem auto; }`);

/** Nothing runs and nothing is fetched: the one inline style sheet, by hash; no form may post anywhere. */
const STANDBY_PAGE_CSP = ["default-src 'none'", `style-src ${cspHash(STYLE)}`, "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"].join('; ');

/** The headers of the page, beside the 503's own Retry-After and no-store. */
export const STANDBY_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': STANDBY_PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * Whether a request is a browser opening (or posting a form of) the customer page: `/` or
 * `/page…`, asking for HTML by name (every browser's navigation does; curl's `*\/*` does not, as
 * on the active gateway's `/`, page/wants-html.ts), and not the page's own live refresh (which sends
 * the fragment header and shows a failed refresh by itself). Those get the HTML page; every other
 * caller (curl, scripts, `hypha lab status`'s probe) keeps the JSON refusal.
 */
export function isPageNavigation(method: string | undefined, path: string, headers: Readonly<Record<string, unknown>>): boolean {
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return false;
  if (headers[FRAGMENT_HEADER] !== undefined) return false;
  const accept = headers.accept;
  if (typeof accept !== 'string' || !/text\/html/i.test(accept)) return false;
  const bare = path.split('?')[0] ?? '/';
  return bare === '/' || bare === '/page' || bare.startsWith('/page/');
}

/**
 * The page. A form post is answered as one that did nothing (a standby writes nothing), and
 * reloads the home page rather than re-sending it; a plain visit reloads itself after
 * `retryAfterSeconds`, by which time a takeover is usually over. The active gateway's URL, when
 * known, is a link (escaped: it comes from the lease row).
 */
export function standbyPage(options: { method: string; path: string; activeUrl: string | undefined; outage: boolean; retryAfterSeconds: number }): string {
  const posted = options.method === 'POST';
  const reload = posted ? `${options.retryAfterSeconds}; url=/` : String(options.retryAfterSeconds);
  const why = options.outage
    ? html`<p>This gateway cannot reach its database just now, so it takes no orders, payments or changes.</p>`
    : options.activeUrl !== undefined
      ? html`<p>This gateway is a standby. The active gateway is <a href="${`${options.activeUrl}${posted ? '/' : options.path}`}">${options.activeUrl}</a>.</p>`
      : html`<p>This gateway is handing over to another, or taking over itself. That takes a few seconds.</p>`;
  const done = posted ? html`<p id="nothing-done"><strong>Nothing was done with the form you sent.</strong> Send it again once the page is back.</p>` : '';
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="${reload}"><title>hypha: back in a moment</title><style>${STYLE}</style></head><body><main><h1>Back in a moment</h1>${why}${done}<p>This page reloads itself in ${options.retryAfterSeconds} seconds.</p></main></body></html>`.text}`;
}
