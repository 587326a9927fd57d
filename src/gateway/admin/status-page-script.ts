// The admin status page's refresh script: swaps `<main>` in place; served inline and allowed by its hash.
import { html } from '../render/html.js';

/** The inline script: re-fetch this URL's `<main>` every REFRESH_SECONDS and swap it in, without a reload. */
export const REFRESH_SCRIPT = html`
(function () {
  var main = document.getElementById('main');
  var status = document.getElementById('refresh-status');
  if (!main || !status || !window.fetch) return;
  var every = Number(main.getAttribute('data-refresh-seconds')) * 1000;
  if (!(every > 0)) return;
  function tick() {
    if (document.hidden) { setTimeout(tick, every); return; }
    fetch(location.href, { headers: { 'x-hypha-fragment': '1' }, cache: 'no-store', credentials: 'same-origin', redirect: 'error' })
      .then(function (r) {
        if (!r.ok) { status.textContent = 'refresh failed: HTTP ' + r.status; return; }
        return r.text().then(function (t) {
          main.innerHTML = t;
          main.setAttribute('data-refreshed', String(Number(main.getAttribute('data-refreshed') || '0') + 1));
          status.textContent = 'updated ' + new Date().toLocaleTimeString();
        });
      })
      .catch(function (e) { status.textContent = 'refresh failed: ' + e.message; })
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
`;
