// The Koa application: error handling, the Host/Origin guard, the caller's identity, JSON bodies, then the routes.
import Koa from 'koa';
import { Router, type RouterContext } from './router.js';
import type { Logger } from 'pino';
import { errorMiddleware } from './error-middleware.js';
import { jsonBody } from './json-body.js';
import { principalMiddleware, type PrincipalSource } from './principal.js';
import { frameDenial, originGuard, type OriginPolicy } from './origin-guard.js';
import { sourceRateLimit, type SourceRateLimits } from './source-rate-limit.js';

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
 */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: false });
  const router = new Router();
  for (const register of deps.routes) register(router);
  const observe = deps.observe;
  if (observe) {
    app.use(async (ctx, next) => {
      const started = process.hrtime.bigint();
      try {
        await next();
      } finally {
        observe((ctx as Partial<RouterContext>).routePath ?? 'unmatched', ctx.method, ctx.status, Number(process.hrtime.bigint() - started) / 1e6);
      }
    });
  }
  app.use(errorMiddleware(deps.log));
  // Before anything reads the body or the caller: a cross-site or rebound request is refused unread.
  app.use(originGuard(deps.origin));
  app.use(frameDenial);
  app.use(principalMiddleware(deps.principals));
  if (deps.rateLimits) app.use(sourceRateLimit(deps.rateLimits));
  app.use(jsonBody);
  app.use(router.routes());
  app.silent = true;
  return app;
}
