// Content negotiation for GET /: a browser gets the customer page, curl keeps the plain-text answer.
import type { Context } from 'koa';

/**
 * True when the caller asks for HTML by name (every browser's Accept starts with text/html) and
 * prefers it to text. curl sends `Accept: *\/*`, which names no type, so it keeps the text.
 */
export function wantsHtml(ctx: Context): boolean {
  return /text\/html/i.test(ctx.get('accept')) && ctx.accepts('text/plain', 'text/html') === 'text/html';
}
