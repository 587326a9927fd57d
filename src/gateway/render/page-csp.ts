// The Content-Security-Policy both pages send: their own style sheet and the shared refresh script by hash, same-origin fetches and forms, nothing else.
import { cspHash } from './csp-hash.js';
import type { SafeHtml } from './html.js';
import { REFRESH_SCRIPT } from './refresh-script.js';

/** The policy of a page whose one inline style sheet is `style`. */
export function pageCsp(style: SafeHtml): string {
  return [
    "default-src 'none'",
    `script-src ${cspHash(REFRESH_SCRIPT)}`,
    `style-src ${cspHash(style)}`,
    "connect-src 'self'",
    // data: only for the empty favicon, which keeps browsers from asking the gateway for /favicon.ico.
    "img-src 'self' data:",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
