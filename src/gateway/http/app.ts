// The Koa application: the Host/Origin guard, the caller's identity, its bucket, JSON bodies, the routes, and one place for errors.
import Koa from 'koa';
import { Router, type RouterContext } from './router.js';
import type { Logger } from 'pino';
import { answerError, refuseUnanswered } from './error-middleware.js';
import { hasBody, readJsonBody } from './json-body.js';
import { principalResolver, type PrincipalSource } from './principal.js';
import { denyFraming, refuseForeign, type OriginPolicy } from './origin-guard.js';
import { sourceRateCheck, type SourceRateLimits } from './source-rate-limit.js';

/**
 * The app's Koa options. `proxy` stays false (see createApp). `compose` (Koa 3's option; its types
 * do not list it): the app has exactly one middleware, so it is called as it is — koa-compose would
 * build a dispatch closure and a bound `next` per request for a `next` nobody calls. Another
 * middleware added to the app is refused when the server is made (app.callback()), not ignored.
 */
const koaOptions = {
  proxy: false,
  compose: (middleware: readonly Koa.Middleware[]): ((ctx: Koa.ParameterizedContext) => Promise<unknown>) => {
    const [only] = middleware;
    if (middleware.length !== 1 || only === undefined) throw new Error(`createApp's app runs its one middleware and no other (got ${middleware.length})`);
    return (ctx) => Promise.resolve(only(ctx, noNext));
  },
};

/** The `next` of the only middleware: there is nothing after it. */
const noNext = (): Promise<void> => Promise.resolve();

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
  const app = new Koa(koaOptions);
  const router = new Router();
  for (const register of deps.routes) register(router);
  const { log, observe } = deps;
  const guard = refuseForeign(deps.origin);
  const identify = principalResolver(deps.principals);
  const limit = deps.rateLimits ? sourceRateCheck(deps.rateLimits) : undefined;
  app.use(async (ctx) => {
    const startedMs = observe ? performance.now() : 0;
    // Node's own fields, read once: `ctx.method` and `ctx.status` are two getter calls each (koa's delegate, then its request/response).
    const method = ctx.req.method as string;
    try {
      guard(ctx);
      identify(ctx);
      const refusal = limit?.(ctx);
      if (refusal) await refusal;
      if (hasBody(method)) await readJsonBody(ctx);
      const handler = router.handlerFor(ctx);
      if (handler) {
        const done = handler(ctx as RouterContext);
        if (done instanceof Promise) await done;
      }
      refuseUnanswered(ctx);
    } catch (err) {
      answerError(ctx, err, log);
    }
    denyFraming(ctx);
    observe?.((ctx as Partial<RouterContext>).routePath ?? 'unmatched', method, ctx.res.statusCode, performance.now() - startedMs);
  });
  app.silent = true;
  return app;
}
