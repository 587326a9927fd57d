// The customer page's refresh script: swaps the live part of the page in place; served inline and allowed by its hash.
import { html } from '../render/html.js';

/** Seconds between refreshes of the live part (balance, orders, deployments). */
export const LIVE_REFRESH_SECONDS = 3;

/** The request header that asks for just the live part's HTML. */
export const LIVE_HEADER = 'x-hypha-fragment';

/**
 * Re-fetches the page's live part every LIVE_REFRESH_SECONDS and swaps it in. Forms live outside
 * it, so typing is never lost; a refresh is skipped while the focus is inside it, so a keyboard
 * user is not thrown back to the top. It asks for text/html by name: fetch's default Accept (*\/*)
 * would get the plain-text answer curl gets. Without JavaScript the page simply shows a Refresh link.
 */
export const PAGE_SCRIPT = html`
(function () {
  var live = document.getElementById('live');
  var status = document.getElementById('refresh-status');
  if (!live || !status || !window.fetch) return;
  var every = ${LIVE_REFRESH_SECONDS * 1000};
  function tick() {
    if (document.hidden || live.contains(document.activeElement)) { setTimeout(tick, every); return; }
    fetch(location.pathname + location.search, { headers: { '${LIVE_HEADER}': '1', accept: 'text/html' }, cache: 'no-store', credentials: 'same-origin', redirect: 'error' })
      .then(function (r) {
        if (!r.ok) { status.textContent = 'refresh failed: HTTP ' + r.status; return; }
        return r.text().then(function (t) {
          live.innerHTML = t;
          live.setAttribute('data-refreshed', String(Number(live.getAttribute('data-refreshed') || '0') + 1));
          status.textContent = 'updated ' + new Date().toLocaleTimeString();
        });
      })
      .catch(function (e) { status.textContent = 'refresh failed: ' + e.message; })
      .then(function () { setTimeout(tick, every); });
  }
  status.textContent = 'updates every ${LIVE_REFRESH_SECONDS} s';
  setTimeout(tick, every);
})();
`;
