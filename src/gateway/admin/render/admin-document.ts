// The admin page's document around each view's `<main>`: head, header with search, the shared refresh script, and the CSP that allows exactly its inline style and script.
import { pageCsp } from '../../render/page-csp.js';
import { html, type SafeHtml } from '../../render/html.js';
import { REFRESH_SCRIPT } from '../../render/refresh-script.js';
import { STATUS_PAGE_STYLE as STYLE } from '../status-page-style.js';

/** Seconds between the page's own refreshes (with JavaScript; the no-JS meta refresh waits NOSCRIPT_REFRESH_SECONDS). */
export const REFRESH_SECONDS = 5;
/** The meta refresh for browsers without JavaScript. */
export const NOSCRIPT_REFRESH_SECONDS = 10;

/**
 * The Content-Security-Policy of every page: nothing but same-origin fetches, the search form,
 * and the one inline style sheet and script, allowed by their hashes.
 */
export const CONTENT_SECURITY_POLICY = pageCsp(STYLE);

/** How a page is wrapped. */
export interface PageOptions {
  readonly title: string;
  /** Refresh the page (JS fragment swap, or the no-JS meta refresh); off for search results and errors. */
  readonly refresh: boolean;
  /** What the search box shows. */
  readonly query?: string;
}

/** A whole HTML document around the `<main>` content. */
export function renderDocument(main: SafeHtml, o: PageOptions): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${o.title} · hypha admin</title>
${o.refresh ? html`<noscript><meta http-equiv="refresh" content="${NOSCRIPT_REFRESH_SECONDS}"></noscript>` : ''}
<style>${STYLE}</style>
</head>
<body>
<header>
<a class="home" href="/admin">hypha admin</a>
<form method="get" action="/admin/search" role="search">
<label for="q" class="muted">Find</label>
<input id="q" name="q" type="search" value="${o.query ?? ''}" placeholder="customer AgentPubKey, deployment id, order id, node id or Mycelium address" autocomplete="off" spellcheck="false">
<button type="submit">Search</button>
</form>
<span id="refresh-status" role="status">${o.refresh ? html`refreshes every ${NOSCRIPT_REFRESH_SECONDS} s` : ''}</span>
</header>
<main id="main" data-refresh-seconds="${o.refresh ? REFRESH_SECONDS : 0}">
${main}
</main>
${o.refresh ? html`<script>${REFRESH_SCRIPT}</script>` : ''}
</body>
</html>
`.text;
}
