// The one refresh script of both pages: re-fetches the element marked data-refresh-seconds and swaps its content in place; served inline, allowed by its hash.
import { html } from './html.js';

/** The request header that asks a page for just the refreshed element's content (the script sends it). */
export const FRAGMENT_HEADER = 'x-hypha-fragment';

/**
 * The script is parameterised by the page, not by its own text (so both pages share one CSP hash):
 * it swaps the first element with `data-refresh-seconds="N"` every N seconds (the admin page marks
 * its `<main>`, the customer page its live part) and reports in `#refresh-status`. It skips a turn
 * while the tab is hidden or the focus is inside that element, so a keyboard user is not thrown
 * back to the top; it asks for text/html by name, since fetch's default Accept (*\/*) gets the
 * customer API's plain-text answer. Without JavaScript nothing runs: the pages offer a meta
 * refresh or a Refresh link instead.
 */
export const REFRESH_SCRIPT = html`
(function () {
  var target = document.querySelector('[data-refresh-seconds]');
  var status = document.getElementById('refresh-status');
  if (!target || !status || !window.fetch) return;
  var every = Number(target.getAttribute('data-refresh-seconds')) * 1000;
  if (!(every > 0)) return;
  function tick() {
    if (document.hidden || target.contains(document.activeElement)) { setTimeout(tick, every); return; }
    fetch(location.pathname + location.search, { headers: { '${FRAGMENT_HEADER}': '1', accept: 'text/html' }, cache: 'no-store', credentials: 'same-origin', redirect: 'error' })
      .then(function (r) {
        if (!r.ok) { status.textContent = 'refresh failed: HTTP ' + r.status; return; }
        return r.text().then(function (t) {
          target.innerHTML = t;
          target.setAttribute('data-refreshed', String(Number(target.getAttribute('data-refreshed') || '0') + 1));
          status.textContent = 'updated ' + new Date().toLocaleTimeString();
        });
      })
      .catch(function (e) { status.textContent = 'refresh failed: ' + e.message; })
      .then(function () { setTimeout(tick, every); });
  }
  status.textContent = 'updates every ' + (every / 1000) + ' s';
  setTimeout(tick, every);
})();
`;
