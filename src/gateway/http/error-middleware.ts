// The one place that turns anything thrown into a JSON error response (and a log line for the unexpected).
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { ValidationError } from '../../protocol/validate.js';
import { AmountError } from '../../protocol/money.js';
import { StoreError } from '../store/store.js';
import { FencedError } from '../store/write-fence.js';
import { ERROR_STATUS, PublicError, errorBody, fromValidation, type ErrorCode } from './public-error.js';

/** The generic code for a status koa exposes; the specific codes sharing a status (`standby` is only the standby server's) are left out. */
const CODE_OF_STATUS = new Map<number, ErrorCode>(
  (Object.entries(ERROR_STATUS) as [ErrorCode, number][]).filter(([code]) => !['nonce_invalid', 'nonce_expired', 'wrong_subnet', 'bad_signature', 'not_linked', 'cross_site', 'standby'].includes(code)).map(([code, status]) => [status, code]),
);

/**
 * Catches everything below it. PublicError and ValidationError are shown to the caller with
 * their code and field; koa's own exposed errors (a bad URL encoding) keep their status; any
 * other error becomes a generic 500 whose details go only to the log.
 */
export function errorMiddleware(log: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      refuseUnanswered(ctx);
    } catch (err) {
      answerError(ctx, err, log);
    }
  };
}

/** Throws 404 `not_found` when nothing answered the request (koa's default status, no body). */
export function refuseUnanswered(ctx: Context): void {
  if (ctx.status === 404 && ctx.body === undefined) throw new PublicError('not_found', `no route for ${ctx.method} ${ctx.path}`, 'GET / lists what this gateway offers');
}

/** Turns anything thrown into the response (errorMiddleware's catch; the gateway's app calls it directly). */
export function answerError(ctx: Context, err: unknown, log: Logger): void {
  const pub = toPublic(err);
  if (pub.status >= 500) log.error({ err, method: ctx.method, path: ctx.path }, 'request failed');
  ctx.status = pub.status;
  ctx.type = 'application/json';
  ctx.body = errorBody(pub);
  const retry = pub.extra.retryAfterSeconds;
  if (typeof retry === 'number') ctx.set('retry-after', String(retry));
}

function toPublic(err: unknown): PublicError {
  if (err instanceof PublicError) return err;
  if (err instanceof ValidationError) return fromValidation(err);
  if (err instanceof AmountError) return new PublicError('bad_request', err.message, 'amounts are decimal strings such as "1.500000"', { field: err.field });
  // The write did not happen: another gateway took over, or the database cannot be reached (issue 13). Details stay in the log.
  if (err instanceof FencedError) return new PublicError('unavailable', 'this gateway is no longer the active one; the write was refused', 'try again shortly: the active gateway answers within the takeover time', { retryAfterSeconds: 5 });
  if (err instanceof StoreError && err.problem === 'io') return new PublicError('unavailable', 'the gateway cannot reach its database; the write was refused', 'try again shortly', { retryAfterSeconds: 5 });
  const e = err as { status?: unknown; expose?: unknown; message?: unknown };
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true) {
    if (e.status === 405) return new PublicError('method_not_allowed', String(e.message));
    return new PublicError(CODE_OF_STATUS.get(e.status) ?? 'bad_request', String(e.message));
  }
  return new PublicError('internal', 'internal error', 'the gateway logged the details; try again later or tell the operator');
}
