// The gateway's router: add routes, match a request. Static paths are one Map lookup; `:param` paths are matched by segments.
import type { Context, Middleware, Next } from 'koa';
import { PublicError } from './public-error.js';

/** A request context with the route's parameters (decoded) and its pattern (for metrics). */
export type RouterContext = Context & { params: Record<string, string>; routePath: string };

/** A route handler. */
export type Handler = (ctx: RouterContext) => unknown;

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

interface ParamRoute {
  readonly pattern: string;
  /** Literal segments, or null where a parameter goes. */
  readonly segments: readonly (string | null)[];
  readonly keys: readonly string[];
  readonly methods: Map<Method, Handler>;
}

/**
 * Measured (bench/auth): @koa/router tested every route's regular expression on every request
 * and cost about 20 µs of a ~110 µs request; here a static path is one Map lookup and a
 * parameter path a comparison of segments. HEAD is answered by GET handlers; a known path with
 * another method is a 405 naming the allowed methods.
 */
export class Router {
  private readonly statics = new Map<string, Map<Method, Handler>>();
  private readonly params: ParamRoute[] = [];

  get(path: string, handler: Handler): this {
    return this.add('GET', path, handler);
  }
  post(path: string, handler: Handler): this {
    return this.add('POST', path, handler);
  }
  put(path: string, handler: Handler): this {
    return this.add('PUT', path, handler);
  }
  delete(path: string, handler: Handler): this {
    return this.add('DELETE', path, handler);
  }

  /** Adds a route; a path segment `:name` is a parameter. */
  add(method: Method, path: string, handler: Handler): this {
    const parts = path.split('/');
    if (!parts.some((p) => p.startsWith(':'))) {
      const methods = this.statics.get(path) ?? new Map<Method, Handler>();
      methods.set(method, handler);
      this.statics.set(path, methods);
      return this;
    }
    let route = this.params.find((r) => r.pattern === path);
    if (!route) {
      route = {
        pattern: path,
        segments: parts.map((p) => (p.startsWith(':') ? null : p)),
        keys: parts.filter((p) => p.startsWith(':')).map((p) => p.slice(1)),
        methods: new Map(),
      };
      this.params.push(route);
    }
    route.methods.set(method, handler);
    return this;
  }

  /** The middleware that dispatches; unmatched paths fall through (to a 404). */
  routes(): Middleware {
    return async (ctx: Context, next: Next): Promise<void> => {
      const handler = this.handlerFor(ctx);
      if (handler) await handler(ctx as RouterContext);
      else await next();
    };
  }

  /**
   * The handler of the request's route, with `params` and `routePath` set on `ctx`; undefined when
   * no route has the path; a 405 naming the allowed methods when the path has none for this method.
   */
  handlerFor(ctx: Context): Handler | undefined {
    const path = pathOf(ctx);
    // A static path first: one Map lookup and no match object (bench/auth's whoami is one).
    const methods = this.statics.get(path);
    if (methods) return this.pick(ctx, path, methods, {});
    const found = this.matchParams(path);
    return found ? this.pick(ctx, found.pattern, found.methods, found.values) : undefined;
  }

  /** The matched route's handler for the request's method (HEAD as GET), or the 405. */
  private pick(ctx: Context, pattern: string, methods: Map<Method, Handler>, values: Record<string, string>): Handler {
    const method = (ctx.method === 'HEAD' ? 'GET' : ctx.method) as Method;
    const handler = methods.get(method);
    if (!handler) {
      const allow = [...methods.keys()].join(', ');
      ctx.set('allow', allow);
      throw new PublicError('method_not_allowed', `${ctx.method} is not allowed on ${pattern}`, `allowed: ${allow}`);
    }
    const rc = ctx as RouterContext;
    rc.params = values;
    rc.routePath = pattern;
    return handler;
  }

  private matchParams(path: string): { pattern: string; methods: Map<Method, Handler>; values: Record<string, string> } | null {
    const parts = path.split('/');
    for (const r of this.params) {
      if (r.segments.length !== parts.length) continue;
      const values: Record<string, string> = {};
      let k = 0;
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = r.segments[i];
        const part = parts[i] as string;
        if (seg === null) {
          if (part === '') ok = false;
          else values[r.keys[k++] as string] = decode(part);
        } else if (seg !== part) ok = false;
      }
      if (ok) return { pattern: r.pattern, methods: r.methods, values };
    }
    return null;
  }
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new PublicError('bad_request', `the path segment ${JSON.stringify(part.slice(0, 40))} is not valid percent-encoding`);
  }
}

/**
 * The request's path, as koa's `ctx.path` gives it (parseurl's pathname of req.url): the request
 * target itself when it is a plain path — it starts with '/' and has no '?' and none of the
 * characters on which parseurl hands the URL to url.parse (tab, LF, FF, CR, space, '#', U+00A0,
 * U+FEFF) — so the common request builds no parsed-URL object; anything else goes to ctx.path.
 */
export function pathOf(ctx: Context): string {
  const url = ctx.req.url;
  return typeof url === 'string' && isPlainPath(url) ? url : ctx.path;
}

function isPlainPath(url: string): boolean {
  if (url.charCodeAt(0) !== 0x2f) return false;
  for (let i = 1; i < url.length; i++) {
    switch (url.charCodeAt(i)) {
      case 0x3f:
      case 0x09:
      case 0x0a:
      case 0x0c:
      case 0x0d:
      case 0x20:
      case 0x23:
      case 0xa0:
      case 0xfeff:
        return false;
    }
  }
  return true;
}
