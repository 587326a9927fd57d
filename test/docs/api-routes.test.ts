// docs/api.md lists exactly the routes the gateway serves, each with its method and the caller it needs (anyone, a linked customer, an admin).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Router, type Handler, type RouterContext } from '../../src/gateway/http/router.js';
import { ERROR_STATUS, PublicError } from '../../src/gateway/http/public-error.js';
import type { Principal } from '../../src/gateway/http/principal.js';
import { registerPublicRoutes } from '../../src/gateway/http/public-routes.js';
import { registerLinkRoutes } from '../../src/gateway/http/link-routes.js';
import { registerNodeRoutes } from '../../src/gateway/http/node-routes.js';
import { registerCustomerRoutes } from '../../src/gateway/http/customer-routes.js';
import { registerMarketRoutes } from '../../src/gateway/http/market-routes.js';
import { registerCustomerPageRoutes } from '../../src/gateway/page/customer-page-routes.js';
import { registerTreeHeadRoutes } from '../../src/gateway/http/tree-head-routes.js';
import { registerAdminAgentRoutes, registerAdminLedgerRoutes, registerAdminViewRoutes } from '../../src/gateway/http/admin-routes.js';
import { registerTrustAdminRoute } from '../../src/gateway/http/trust-routes.js';
import { registerMetricsRoute } from '../../src/gateway/metrics.js';
import { registerAdminPageRoutes } from '../../src/gateway/admin/status-page.js';

const API_DOC = new URL('../../../docs/api.md', import.meta.url);
const HTTP_PART = new URL('../../../src/gateway/wiring/http-part.ts', import.meta.url);

type Auth = 'anyone' | 'customer' | 'admin';

/** A route as served or as documented: `GET /v1/orders/{id}`. */
type RouteKey = string;

/** A Router that also keeps each route it is given, with its handler (the real Router does the rest). */
class RecordingRouter extends Router {
  readonly handlers = new Map<RouteKey, Handler>();
  override add(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, handler: Handler): this {
    this.handlers.set(`${method} ${path.replace(/:([A-Za-z]+)/g, '{$1}')}`, handler);
    return super.add(method, path, handler);
  }
}

/** Thrown when a handler reaches its dependencies: it got past any guard. */
class DepsUsed extends Error {}

/**
 * Dependencies that give way to any property read and throw DepsUsed when called, so a handler
 * runs up to the first thing it asks of them. A URL where one is turned into a string.
 */
function probeDeps(): never {
  const make = (): unknown =>
    new Proxy(() => undefined, {
      get: (_t, prop) => (prop === Symbol.toPrimitive ? () => 'http://[400::1]:8480' : prop === 'then' ? undefined : make()),
      apply: () => {
        throw new DepsUsed();
      },
      construct: () => {
        throw new DepsUsed();
      },
    });
  return make() as never;
}

/**
 * Every route registration the gateway's wiring makes (src/gateway/wiring/http-part.ts), with
 * probing dependencies. The test below checks the wiring calls exactly these.
 */
const REGISTRARS: Record<string, (r: Router) => void> = {
  registerPublicRoutes: (r) => registerPublicRoutes(r, probeDeps()),
  registerLinkRoutes: (r) => registerLinkRoutes(r, probeDeps()),
  registerNodeRoutes: (r) => registerNodeRoutes(r, probeDeps()),
  registerCustomerRoutes: (r) => registerCustomerRoutes(r, probeDeps(), probeDeps()),
  registerMarketRoutes: (r) => registerMarketRoutes(r, probeDeps()),
  registerCustomerPageRoutes: (r) => registerCustomerPageRoutes(r, probeDeps()),
  registerTreeHeadRoutes: (r) => registerTreeHeadRoutes(r, probeDeps()),
  registerAdminAgentRoutes: (r) => registerAdminAgentRoutes(r, probeDeps()),
  registerAdminViewRoutes: (r) => registerAdminViewRoutes(r, probeDeps()),
  registerTrustAdminRoute: (r) => registerTrustAdminRoute(r, probeDeps()),
  registerMetricsRoute: (r) => registerMetricsRoute(r, probeDeps()),
  registerAdminPageRoutes: (r) => registerAdminPageRoutes(r, probeDeps()),
  registerAdminLedgerRoutes: (r) => registerAdminLedgerRoutes(r, probeDeps()),
};

function servedRoutes(): RecordingRouter {
  const router = new RecordingRouter();
  for (const register of Object.values(REGISTRARS)) register(router);
  return router;
}

/**
 * A minimal fake of Koa's context, named as one (the fields koa's lib/context.js, request.js and
 * response.js give that the handlers and their page wrappers touch): a GET or POST with an empty
 * body from the given caller.
 */
function fakeContext(key: RouteKey, principal: Principal): RouterContext {
  const [method, pattern] = key.split(' ') as [string, string];
  const params: Record<string, string> = {};
  for (const m of pattern.matchAll(/\{([A-Za-z]+)\}/g)) params[m[1] as string] = 'x';
  const ctx = {
    method,
    path: pattern,
    params,
    routePath: pattern,
    query: {},
    querystring: '',
    headers: {},
    header: {},
    request: { body: {}, query: {}, headers: {} },
    req: { headers: {}, method },
    // Node's response, which whoami sets its Content-Type on directly.
    res: { setHeader: () => undefined, getHeader: () => undefined, headersSent: false },
    state: { principal, body: {} },
    status: 404,
    body: undefined as unknown,
    type: '',
    get: () => '',
    set: () => undefined,
    vary: () => undefined,
    redirect: () => undefined,
    accepts: () => false,
    is: () => false,
  };
  return ctx as unknown as RouterContext;
}

/** What a caller gets from the route before it reaches its dependencies: the error code, or 'through'. */
async function outcome(handler: Handler, key: RouteKey, principal: Principal): Promise<string> {
  const ctx = fakeContext(key, principal);
  try {
    await handler(ctx);
  } catch (err) {
    if (err instanceof DepsUsed) return 'through';
    if (err instanceof PublicError) return err.code;
    // A field check before the guard (none today) would land here: say so rather than guess.
    throw new Error(`${key}: probing the handler failed: ${String(err)}`);
  }
  // The page wrappers turn a PublicError into an HTML page with its status.
  if (ctx.status === 401) return 'not_linked';
  if (ctx.status === 403) return 'forbidden';
  return 'through';
}

const unlinked: Principal = { address: '400::1', subnet: '400::/64', roles: [] };
const linked: Principal = { address: '400::2', subnet: '400::/64', agent: 'uhCAkprobe', roles: ['customer'] };

/** The caller a route needs, found by calling it as an unlinked and as a linked non-admin caller. */
async function authOf(handler: Handler, key: RouteKey): Promise<Auth> {
  if ((await outcome(handler, key, unlinked)) !== 'not_linked') return 'anyone';
  return (await outcome(handler, key, linked)) === 'forbidden' ? 'admin' : 'customer';
}

/**
 * The caller each part of docs/api.md says its routes need: a `###` heading's entry wins over its
 * `##` section's. The text of each part says the same in words.
 */
const DOCUMENTED_AUTH: Record<string, Auth> = {
  'Anyone on Mycelium': 'anyone',
  'The customer page (browsers)': 'customer',
  'Linked customers': 'customer',
  'Capacity requests': 'customer',
  Receipts: 'customer',
  Agents: 'anyone',
  Admins: 'admin',
};

/**
 * The routes docs/api.md documents, from its `###` headings and its route tables: each
 * `METHOD /path` in backticks; a bare `/path` takes the method before it, a bare `METHOD` the
 * path before it. Query strings are dropped.
 */
function documentedRoutes(markdown: string): Map<RouteKey, Auth> {
  const routes = new Map<RouteKey, Auth>();
  let section = '';
  let sub = '';
  for (const line of markdown.split('\n')) {
    if (line.startsWith('## ')) {
      section = line.slice(3).trim();
      sub = '';
      continue;
    }
    const heading = line.startsWith('### ');
    if (heading) sub = line.slice(4).trim();
    if (!heading && !(sub === 'The customer page (browsers)' && line.startsWith('| `'))) continue;
    // In a table, only the first cell names routes.
    const text = heading ? line : (line.split('|')[1] ?? '');
    const auth = DOCUMENTED_AUTH[sub] ?? DOCUMENTED_AUTH[section];
    let method = '';
    let path = '';
    for (const m of text.matchAll(/`([^`]+)`/g)) {
      const parts = (m[1] as string).trim().split(/\s+/);
      if (parts.length === 2 && /^[A-Z]+$/.test(parts[0] as string) && (parts[1] as string).startsWith('/')) [method, path] = parts as [string, string];
      else if (parts.length === 1 && (parts[0] as string).startsWith('/') && method !== '') path = parts[0] as string;
      else if (parts.length === 1 && /^(GET|POST|PUT|DELETE)$/.test(parts[0] as string) && path !== '') method = parts[0] as string;
      else continue;
      if (auth === undefined) throw new Error(`docs/api.md: the section of ${method} ${path} ("${section}" / "${sub}") has no caller in DOCUMENTED_AUTH`);
      routes.set(`${method} ${path.replace(/\?.*$/, '')}`, auth);
    }
  }
  return routes;
}

/** Served elsewhere than the router: the agents' WebSocket upgrade (src/gateway/agents/agent-admission.ts). */
const NOT_ON_THE_ROUTER: ReadonlySet<RouteKey> = new Set(['GET /v1/agent']);

test('the test registers exactly the route registrations the gateway wiring makes', () => {
  const wiring = readFileSync(HTTP_PART, 'utf8');
  const called = new Set([...wiring.matchAll(/\b(register\w+Routes?)\(r\b/g)].map((m) => m[1] as string));
  assert.deepEqual([...called].sort(), Object.keys(REGISTRARS).sort());
});

test('docs/api.md documents every route the gateway serves, and no route it does not', () => {
  const served = [...servedRoutes().handlers.keys()].sort();
  const documented = [...documentedRoutes(readFileSync(API_DOC, 'utf8')).keys()].filter((k) => !NOT_ON_THE_ROUTER.has(k)).sort();
  assert.ok(served.length >= 40, `only ${served.length} routes registered`);
  const undocumented = served.filter((k) => !documented.includes(k));
  const gone = documented.filter((k) => !served.includes(k));
  assert.deepEqual({ undocumented, gone }, { undocumented: [], gone: [] });
});

test('docs/api.md puts each route in a part that names the caller it needs', async () => {
  const documented = documentedRoutes(readFileSync(API_DOC, 'utf8'));
  const wrong: string[] = [];
  for (const [key, handler] of servedRoutes().handlers) {
    const actual = await authOf(handler, key);
    const said = documented.get(key);
    if (said !== undefined && said !== actual) wrong.push(`${key}: docs say ${said}, the route needs ${actual}`);
  }
  assert.deepEqual(wrong, []);
});

test('the probe tells the three callers apart (a check of the test itself)', async () => {
  const router = servedRoutes();
  const probe = (key: RouteKey): Promise<Auth> => authOf(router.handlers.get(key) as Handler, key);
  assert.equal(await probe('GET /v1/whoami'), 'anyone');
  assert.equal(await probe('GET /v1/balance'), 'customer');
  assert.equal(await probe('GET /admin/api/overview'), 'admin');
  assert.equal(await probe('GET /admin'), 'admin');
});

test('the error table of docs/api.md has every error code with its status, and no other', () => {
  const rows = readFileSync(API_DOC, 'utf8')
    .split('\n')
    .map((l) => /^\| (\d{3}) \| `([a-z_]+)` \|/.exec(l))
    .filter((m) => m !== null);
  const documented = Object.fromEntries(rows.map((m) => [m[2] as string, Number(m[1])]));
  assert.deepEqual(documented, { ...ERROR_STATUS });
});
