// How both pages print a time: a `<time>` element with the ISO value, shown to the second in UTC.
import { html, type SafeHtml } from './html.js';

/** An ISO time as `<time datetime="…">2026-01-01 00:00:00Z</time>`, or a muted "never" for null. */
export function time(iso: string | null): SafeHtml {
  if (iso === null) return html`<span class="muted">never</span>`;
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
}
