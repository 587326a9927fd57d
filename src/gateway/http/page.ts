// Pagination of lists a caller can grow: `?limit=&after=`, and a `next` cursor in the answer.
import type { Context } from 'koa';
import { PublicError } from './public-error.js';

/** Items per page when the caller does not say. */
export const DEFAULT_PAGE_LIMIT = 100;
/** The most items one page may hold. */
export const MAX_PAGE_LIMIT = 1000;

/** What the caller asked for. */
export interface PageRequest {
  readonly limit: number;
  /** The cursor of the last item already seen: the page starts after it. */
  readonly after?: string;
}

/** One page, and the cursor to ask for the next (null: this was the last). */
export interface Page<T> {
  readonly items: T[];
  readonly next: string | null;
}

/** Reads `limit` and `after` from the query string: a 400 naming the field for anything else than one whole number in range, or one cursor. */
export function pageRequest(ctx: Context, path: string): PageRequest {
  const { limit, after } = ctx.query;
  const example = `GET ${path}${path.includes('?') ? '&' : '?'}limit=${DEFAULT_PAGE_LIMIT}&after=CURSOR (CURSOR: the "next" of the previous page)`;
  let n = DEFAULT_PAGE_LIMIT;
  if (limit !== undefined) {
    if (typeof limit !== 'string' || !/^[0-9]{1,7}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_PAGE_LIMIT) {
      throw new PublicError('bad_request', `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}`, example, { field: 'limit' });
    }
    n = Number(limit);
  }
  if (after === undefined) return { limit: n };
  if (typeof after !== 'string' || after === '' || after.length > 200) {
    throw new PublicError('bad_request', 'after must be one cursor (the "next" of the previous page), at most 200 characters', example, { field: 'after' });
  }
  return { limit: n, after };
}

/**
 * The page of `items` (in a stable order) that `page` asks for; `cursorOf` names an item. An
 * `after` that names no item is a 400: the list changed in a way a cursor cannot follow, or the
 * cursor was made up.
 */
export function paginate<T>(items: readonly T[], cursorOf: (item: T) => string, page: PageRequest): Page<T> {
  let start = 0;
  if (page.after !== undefined) {
    const at = items.findIndex((item) => cursorOf(item) === page.after);
    if (at < 0) throw new PublicError('bad_request', `after ${JSON.stringify(page.after.slice(0, 80))} names nothing in this list`, 'start again without after', { field: 'after' });
    start = at + 1;
  }
  const slice = items.slice(start, start + page.limit);
  const last = slice[slice.length - 1];
  return { items: slice, next: start + page.limit < items.length && last !== undefined ? cursorOf(last) : null };
}
