// Fairness between sources: every /64 gets its own token bucket of requests, so a few /64s flooding cheap routes cannot take the gateway from everyone else.
import type { Context, Next } from 'koa';
import type { RateLimiter } from '../limits/rate-limiter.js';
import type { Principal } from './principal.js';
import { PublicError } from './public-error.js';

/** The buckets: callers no identity vouches for get the smaller one; admins are not limited (the status page refreshes itself). */
export interface SourceRateLimits {
  /** Requests per minute from a /64 that is not linked (config `http.unlinkedRequestsPerMinute`). */
  readonly unlinked: RateLimiter;
  readonly unlinkedPerMinute: number;
  /** Requests per minute from a linked /64 (config `http.linkedRequestsPerMinute`). */
  readonly linked: RateLimiter;
  readonly linkedPerMinute: number;
  /**
   * Waits before a refusal is answered (a timer in the gateway). Absent: refusals are answered at
   * once. bench/soak showed why it is there: flooders that ignore Retry-After and ask again at once
   * on a kept-alive connection got ~300 refusals a second, each costing the gateway about what a
   * customer's request does, so the refusals themselves took the gateway from customers.
   */
  readonly hold?: (seconds: number) => Promise<void>;
}

/** A refusal waits at most this long: it paces a caller that retries at once, and a held socket is bounded by the connection caps. */
export const MAX_HOLD_SECONDS = 1;

/**
 * Koa middleware, after the principal is known: takes one token from the caller's /64 and
 * answers 429 `rate_limited` (with Retry-After) when the bucket is empty, after `hold`. bench/soak showed why:
 * without it, six /64s flooding `GET /v1/offers`, link challenges and agent hellos raised
 * linked customers' p99 twelvefold while nothing refused them.
 */
export function sourceRateLimit(limits: SourceRateLimits) {
  const check = sourceRateCheck(limits);
  return async (ctx: Context, next: Next): Promise<void> => {
    const refusal = check(ctx);
    if (refusal) await refusal;
    await next();
  };
}

/**
 * sourceRateLimit's work: takes the token; undefined when the request may go on, else a promise
 * that rejects with the 429 once the hold is over. The common case costs no promise (bench/auth).
 */
export function sourceRateCheck(limits: SourceRateLimits): (ctx: Context) => Promise<never> | undefined {
  return (ctx) => {
    const p = ctx.state.principal as Principal;
    if (p.roles.includes('admin')) return undefined;
    const linked = p.link !== undefined;
    const wait = (linked ? limits.linked : limits.unlinked).take(p.subnet);
    return wait > 0 ? refuse(ctx, limits, p, linked, wait) : undefined;
  };
}

async function refuse(ctx: Context, limits: SourceRateLimits, p: Principal, linked: boolean, wait: number): Promise<never> {
  // Held before it is answered: a connection that retries at once then costs at most one refusal per hold.
  if (limits.hold) await limits.hold(Math.min(wait, MAX_HOLD_SECONDS));
  const perMinute = linked ? limits.linkedPerMinute : limits.unlinkedPerMinute;
  ctx.set('retry-after', String(wait));
  throw new PublicError(
    'rate_limited',
    `more than ${perMinute} requests a minute from ${p.subnet}`,
    linked ? `wait ${wait} s and slow down` : `wait ${wait} s; a linked /64 may send more (hypha link --gateway … --key …)`,
    { limit: linked ? 'http.linkedRequestsPerMinute' : 'http.unlinkedRequestsPerMinute', retryAfterSeconds: wait },
  );
}
