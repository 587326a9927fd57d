// HTML form bodies (application/x-www-form-urlencoded) for the customer page's own routes: one value per field, as strings.
import { PublicError } from './public-error.js';

/** The routes whose form posts are read as forms; everywhere else a form content type is still read as JSON (curl -d). */
export const FORM_PATH_PREFIX = '/page/';

/** The most fields one form may send (the page's largest form has five). */
const MAX_FIELDS = 20;

/** True when a request to `path` with `contentType` carries an HTML form the page sent. */
export function isPageForm(path: string, contentType: string): boolean {
  return path.startsWith(FORM_PATH_PREFIX) && /^application\/x-www-form-urlencoded\s*(?:;|$)/i.test(contentType);
}

/**
 * Parses a form body into field → value. A field sent twice is a 400 naming it: the page never
 * does that, so it is a crafted request, and neither value can be trusted to be the one meant.
 */
export function parseFormBody(raw: string): Record<string, string> {
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  let count = 0;
  for (const [name, value] of new URLSearchParams(raw)) {
    if (++count > MAX_FIELDS) throw new PublicError('bad_request', `a form may send at most ${MAX_FIELDS} fields`, 'use the page\'s own forms', { field: 'body' });
    if (Object.prototype.hasOwnProperty.call(fields, name)) throw new PublicError('bad_request', `the form field ${JSON.stringify(name.slice(0, 40))} was sent twice`, 'use the page\'s own forms', { field: name.slice(0, 40) });
    fields[name] = value;
  }
  return fields;
}
