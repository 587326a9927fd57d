// The Koa application: the Host/Origin guard, the caller's identity, its bucket, JSON bodies, the routes, and one place for errors.
import type Koa from 'koa';
import { OneMiddlewareKoa } from './one-middleware-koa.js';
import { Router, type RouterContext } from './router.js';
import type { Logger } from 'pino';
import { answerError, refuseUnanswered } from './error-middleware.js';
import { hasBody, readJsonBody } from './json-body.js';
import { principalResolver, type PrincipalSource } from './principal.js';
import { denyFraming, refuseForeign, type OriginPolicy } from './origin-guard.js';
import { sourceRateCheck, type SourceRateLimits } from './source-rate-limit.js';

/** Called after every request, for metrics. `route` is the matched pattern, never the raw path. */
export type RequestObserver = (route: string, method: string, status: number, durationMs: number) => void;

/** What the app needs to run. */
export interface AppDeps {
  readonly log: Logger;
  readonly principals: PrincipalSource;
  /** The Host values the gateway answers to and the origins that count as itself (origin-guard.ts). */
  readonly origin: OriginPolicy;
  /** Per-/64 request buckets (source-rate-limit.ts); absent: no limit (unit tests of single routes). */
  readonly rateLimits?: SourceRateLimits;
  /** Registers routes on the router, in order. */
  readonly routes: readonly ((router: Router) => void)[];
  readonly observe?: RequestObserver;
}

/**
 * Builds the app. `proxy` stays false: X-Forwarded-For and friends are never read, because
 * the caller's identity is the connection's source address and nothing else.
 *
 * Every request takes the same steps, in this order: the Host/Origin guard (a cross-site or
 * rebound request is refused before anything reads its body or its caller), the caller from the
 * peer address, the caller's /64 bucket, the JSON body, the route; anything thrown becomes the
 * error answer (error-middleware.ts); then frame denial on an HTML answer, and the metrics. They
 * run as plain calls inside one Koa middleware rather than as seven: each Koa layer costs a
 * bound dispatch and a promise per request, and bench/auth measures what whoami pays over bare Koa.
 */
export function createApp(deps: AppDeps): Koa {
  // `proxy` stays false (see above). OneMiddlewareKoa calls the one middleware below directly and
  // writes its string answers itself (one-middleware-koa.ts).
  const app = new OneMiddlewareKoa({ proxy: false });
  const router = new Router();
  for (const register of deps.routes) register(router);
  const { log, observe } = deps;
  const guard = refuseForeign(deps.origin);
  const identify = principalResolver(deps.principals);
  const limit = deps.rateLimits ? sourceRateCheck(deps.rateLimits) : undefined;

  /** The route's handler; a promise only when it waits. Throws what the handler throws, or not_found. */
  const route = (ctx: Koa.Context): Promise<void> | undefined => {
    const handler = router.handlerFor(ctx);
    const done = handler ? handler(ctx as RouterContext) : undefined;
    if (done instanceof Promise) return done.then(() => refuseUnanswered(ctx));
    refuseUnanswered(ctx);
    return undefined;
  };
  /** The steps after one that waits (a held refusal, or a body to read). */
  const afterWait = async (ctx: Koa.Context, method: string, refusal: Promise<never> | undefined): Promise<void> => {
    if (refusal) await refusal;
    if (hasBody(method)) await readJsonBody(ctx);
    await route(ctx);
  };
  /** The guard, the caller, the bucket, the body, the route; a promise only when a step waits. */
  const steps = (ctx: Koa.Context, method: string): Promise<void> | undefined => {
    guard(ctx);
    identify(ctx);
    const refusal = limit?.(ctx);
    if (refusal !== undefined || hasBody(method)) return afterWait(ctx, method, refusal);
    return route(ctx);
  };
  /** Frame denial and the metrics, once the answer is set. */
  const finish = (ctx: Koa.Context, method: string, startedMs: number): void => {
    denyFraming(ctx);
    observe?.((ctx as Partial<RouterContext>).routePath ?? 'unmatched', method, ctx.res.statusCode, performance.now() - startedMs);
  };

  // A request that waits for nothing (whoami) runs to its answer in this one call: no promise is made.
  app.use((ctx) => {
    const startedMs = observe ? performance.now() : 0;
    // Node's own fields, read once: `ctx.method` and `ctx.status` are two getter calls each (koa's delegate, then its request/response).
    const method = ctx.req.method as string;
    let pending: Promise<void> | undefined;
    try {
      pending = steps(ctx, method);
    } catch (err) {
      answerError(ctx, err, log);
    }
    if (pending === undefined) {
      finish(ctx, method, startedMs);
      return undefined;
    }
    return pending.then(
      () => finish(ctx, method, startedMs),
      (err: unknown) => {
        answerError(ctx, err, log);
        finish(ctx, method, startedMs);
      },
    );
  });
  app.silent = true;
  return app;
}
