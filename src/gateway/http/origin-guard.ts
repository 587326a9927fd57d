// Browser-borne requests: the Host must be the server's own, and a state-changing request must not come from another site.
import type { Context, Next } from 'koa';
import { PublicError } from './public-error.js';

/**
 * The request headers the guard reads, as Node gives them (lower-case names; a header that
 * was sent twice arrives joined or as an array, which the guard refuses).
 */
export interface GuardedRequest {
  readonly method: string;
  readonly host: string | undefined;
  readonly origin: string | undefined;
  readonly secFetchSite: string | undefined;
}

/** Methods that only read: a foreign Origin on them is allowed (the same-origin policy keeps the answer from the page). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A Host header's shape: a bracketed IPv6 literal or a name/IPv4, and an optional port. Nothing else reaches the URL parser. */
const HOST_SHAPE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;

/**
 * A Host value in one spelling: lower case, IPv6 compressed the WHATWG way (`[5a1::1]` for
 * `[05A1:0:0::1]`), the default port 80 dropped. Undefined when it is not a host at all.
 */
export function normaliseHost(host: string): string | undefined {
  if (!HOST_SHAPE.test(host)) return undefined;
  try {
    const url = new URL(`http://${host}`);
    return url.host;
  } catch {
    return undefined;
  }
}

/** The checks of one server: the Host values it answers to, and the origins that count as itself. */
export class OriginPolicy {
  private readonly hosts: ReadonlySet<string>;
  private readonly origins: ReadonlySet<string>;
  /** The host the hint names: the server's own URL. */
  readonly primary: string;
  /** The server's own URL, for the hints. */
  private readonly url: string;

  /**
   * `hosts` are `address:port` values as a client writes them in a URL (`[5a1::1]:8480`,
   * `127.0.0.1:8480`); the first is the one the refusal's hint points to.
   */
  constructor(hosts: readonly string[]) {
    const normal = hosts.map((h) => {
      const n = normaliseHost(h);
      if (n === undefined) throw new RangeError(`OriginPolicy: ${JSON.stringify(h)} is not a host[:port]`);
      return n;
    });
    if (normal.length === 0) throw new RangeError('OriginPolicy: at least one host is needed');
    this.hosts = new Set(normal);
    this.origins = new Set(normal.map((h) => `http://${h}`));
    this.primary = normal[0] as string;
    this.url = `http://${this.primary}/`;
  }

  /**
   * True when `host` is one of ours exactly as written (its normal form). With a safe method that
   * is all `check` needs to let a request go on: refuseForeign answers the common case with this
   * set lookup, before building the request's view (bench/auth).
   */
  isOwnHostAsWritten(host: string): boolean {
    // The primary first: comparing with one string costs less than hashing the request's new string for the set.
    return host === this.primary || this.hosts.has(host);
  }

  /** True when `origin` (an Origin header value) is this server itself. */
  isOwnOrigin(origin: string): boolean {
    try {
      const url = new URL(origin);
      return url.protocol === 'http:' && url.pathname === '/' && url.search === '' && this.origins.has(url.origin);
    } catch {
      return false;
    }
  }

  /**
   * Null when the request may go on; otherwise the error to answer with.
   * - A Host that is not one of ours: 421 wrong_host, for every method. A page that rebinds its
   *   own DNS name to our address sends its own name as Host, so this is what keeps it from
   *   reading the answers.
   * - A state-changing method with an Origin that is not ours (`null` included), or with
   *   `Sec-Fetch-Site: cross-site` or `same-site`: 403 cross_site. curl sends neither header,
   *   so `curl -d '{…}'` works; every current browser sends at least one of them.
   */
  check(req: GuardedRequest): PublicError | null {
    const url = this.url;
    if (req.host === undefined || req.host === '') {
      return new PublicError('bad_request', 'the request has no Host header', `send HTTP/1.1 with "Host: ${this.primary}", e.g. curl ${url}`, { field: 'host' });
    }
    // Most requests send the Host exactly in its normal form: a set lookup then, not a URL parse
    // per request (bench/auth). normaliseHost returns a normal form unchanged, so this accepts the same.
    const host = this.hosts.has(req.host) ? req.host : normaliseHost(req.host);
    if (host === undefined || !this.hosts.has(host)) {
      return new PublicError('wrong_host', `this server does not answer to the Host ${JSON.stringify(req.host.slice(0, 100))}`, `use its own address: ${url} (a browser page reaching it under another name is refused, to stop DNS rebinding)`, { field: 'host' });
    }
    if (SAFE_METHODS.has(req.method)) return null;
    if (req.origin !== undefined && !this.isOwnOrigin(req.origin)) {
      return new PublicError('cross_site', `a ${req.method} from the web origin ${JSON.stringify(req.origin.slice(0, 100))} is refused`, `another site's page cannot act with your address; send the request yourself, e.g. curl -X ${req.method} ${url}…`, { field: 'origin' });
    }
    const site = req.secFetchSite?.toLowerCase();
    if (site === 'cross-site' || site === 'same-site') {
      return new PublicError('cross_site', `a ${req.method} sent by a page of another site (Sec-Fetch-Site: ${site}) is refused`, `another site's page cannot act with your address; send the request yourself, e.g. curl -X ${req.method} ${url}…`, { field: 'sec-fetch-site' });
    }
    return null;
  }
}

/** One header's value, or undefined when absent; a header sent twice is not trusted as either value. */
export function singleHeader(value: string | string[] | undefined): string | undefined {
  if (Array.isArray(value)) return value.length === 1 ? value[0] : '\u0000repeated';
  return value;
}

/** Reads the guarded headers of a Node request. */
export function guardedRequest(method: string, headers: Readonly<Record<string, string | string[] | undefined>>): GuardedRequest {
  return { method, host: singleHeader(headers.host), origin: singleHeader(headers.origin), secFetchSite: singleHeader(headers['sec-fetch-site']) };
}

/**
 * The Host header's value when the request sent exactly one (what Node's `req.headers.host` then
 * holds: names compared case-blind, the value as the parser gave it); undefined when it sent none
 * or more than one (then the caller takes the full check, which reads req.headers).
 */
export function hostAsSent(rawHeaders: readonly string[]): string | undefined {
  let host: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (host !== undefined) return undefined;
      host = rawHeaders[i + 1];
    }
  }
  return host;
}

/** Throws what `policy.check` refuses, marking the connection to close; the request goes on otherwise. */
export function refuseForeign(policy: OriginPolicy): (ctx: Context) => void {
  return (ctx) => {
    const req = ctx.req;
    // What check answers for a safe method whose one Host is ours as written; read from the raw
    // headers, so this common case does not build req.headers (Node makes that object on first use).
    if (SAFE_METHODS.has(req.method as string)) {
      const host = hostAsSent(req.rawHeaders);
      if (host !== undefined && policy.isOwnHostAsWritten(host)) return;
    }
    const refused = policy.check(guardedRequest(ctx.method, req.headers));
    if (refused) {
      // The body may not have been read; do not let it be taken for the next request.
      ctx.set('connection', 'close');
      throw refused;
    }
  };
}

/** Koa middleware: refuses what `policy.check` refuses, before anything else reads the request. */
export function originGuard(policy: OriginPolicy) {
  const refuse = refuseForeign(policy);
  return async (ctx: Context, next: Next): Promise<void> => {
    refuse(ctx);
    await next();
  };
}

/**
 * Koa middleware: an HTML answer may not be shown inside another site's frame (clickjacking):
 * X-Frame-Options for older browsers, CSP frame-ancestors for the rest.
 */
export async function frameDenial(ctx: Context, next: Next): Promise<void> {
  await next();
  denyFraming(ctx);
}

/** frameDenial's work on a finished response: only an HTML answer gets the headers. */
export function denyFraming(ctx: Context): void {
  if (!isHtml(ctx.res.getHeader('content-type'))) return;
  ctx.set('x-frame-options', 'DENY');
  // Koa answers undefined for a header not set (its types say string): without this, a page with no
  // CSP of its own was sent "undefined; frame-ancestors 'none'" (test/gateway/app-pipeline-netns.test.ts).
  const csp: unknown = ctx.response.get('content-security-policy');
  if (typeof csp !== 'string' || csp === '') ctx.set('content-security-policy', "frame-ancestors 'none'");
  else if (!/frame-ancestors/i.test(csp)) ctx.set('content-security-policy', `${csp}; frame-ancestors 'none'`);
}

/**
 * True for a Content-Type whose media type is text/html: what koa's `ctx.response.type` (the value
 * up to the first `;`) compared case-blind with 'text/html' says, read straight from the header
 * (bench/auth: the getter and its split cost ~1 µs of every JSON answer). type-is's is('html')
 * would also match only text/html.
 */
export function isHtml(contentType: unknown): boolean {
  if (typeof contentType !== 'string' || contentType.length < 9) return false;
  if (contentType.length > 9 && contentType.charCodeAt(9) !== 59 /* ; */) return false;
  return contentType.slice(0, 9).toLowerCase() === 'text/html';
}
