// The admin page's message view: search's "nothing found" and the error pages, with a way back.
import { html, type SafeHtml } from '../../render/html.js';

/** The search's "nothing found" (and the error pages): what was asked, and what can be searched. */
export function renderMessage(title: string, message: string, hint?: string): SafeHtml {
  return html`
<h1>${title}</h1>
<p id="message">${message}</p>
${hint ? html`<p class="muted">${hint}</p>` : ''}
<p><a href="/admin">Back to the status page</a></p>
`;
}
