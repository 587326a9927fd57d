// The gateway's request pipeline (createApp) on real sockets from Mycelium source addresses: each step's answer, in order — Host/Origin guard, caller, bucket, JSON body, route, errors, frame denial, metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { createApp, type RequestObserver } from '../../src/gateway/http/app.js';
import { OriginPolicy } from '../../src/gateway/http/origin-guard.js';
import { principalOf } from '../../src/gateway/http/principal.js';
import { RateLimiter } from '../../src/gateway/limits/rate-limiter.js';
import { subnet64Of, parseIpv6 } from '../../src/identity/index.js';
import { addLoopbackAddresses } from '../helpers/private-netns.js';
import { inPrivateNamespace } from '../helpers/namespaced-test-file.js';
import { jsonRequest, rawRequest, type Target } from '../helpers/source-http.js';

const NAME = 'the request pipeline answers each step in order';
const PORT = 8480;

/** A raw request with `connection: close`, so rawRequest reads to its end. */
function raw(method: string, path: string, headers: Record<string, string>, body = ''): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'connection: close', `content-length: ${Buffer.byteLength(body)}`, '', body];
  return Buffer.from(lines.join('\r\n'));
}

/** The value of header `name` in a raw answer's head, lower-cased name match. */
function header(head: string, name: string): string | undefined {
  const m = new RegExp(`\\r\\n${name}: ([^\\r]*)`, 'i').exec(head);
  return m?.[1];
}

function errorCode(json: unknown): unknown {
  return (json as { error?: { code?: unknown } } | undefined)?.error?.code;
}

if (inPrivateNamespace({ name: NAME, moduleUrl: import.meta.url, tests: 1, timeoutMs: 120_000 })) {
  test(NAME, async (t) => {
    const [gatewayAddress, linked, stranger, admin] = (await addLoopbackAddresses(4)) as [string, string, string, string];
    const linkedSubnet = subnet64Of(parseIpv6(linked));
    const adminSubnet = subnet64Of(parseIpv6(admin));
    const host = `[${gatewayAddress}]:${PORT}`;
    const observed: Array<{ route: string; method: string; status: number }> = [];
    const observe: RequestObserver = (route, method, status) => void observed.push({ route, method, status });
    const errors: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
    const app = createApp({
      log,
      origin: new OriginPolicy([host]),
      principals: {
        linkOf: (subnet) => (subnet === linkedSubnet ? { subnet, agent: 'alice-agent', address: linked, linkedAtMs: 0, nonce: 'n', statement: 's', signature: 'x' } : undefined),
        isAdmin: (_agent, subnet) => subnet === adminSubnet,
        isFarmer: () => false,
      },
      // Two requests of burst a minute for unlinked /64s, plenty for linked ones; admins are never limited.
      rateLimits: { unlinked: new RateLimiter(2, 2, Date.now), unlinkedPerMinute: 2, linked: new RateLimiter(600, 600, Date.now), linkedPerMinute: 600 },
      observe,
      routes: [
        (r) => {
          r.get('/v1/whoami', (ctx) => {
            const p = principalOf(ctx);
            ctx.body = { address: p.address, subnet: p.subnet, roles: p.roles };
          });
          r.get('/page', (ctx) => {
            ctx.type = 'text/html; charset=utf-8';
            ctx.body = '<p>hi</p>';
          });
          r.get('/page-with-csp', (ctx) => {
            ctx.type = 'text/html';
            ctx.set('content-security-policy', "default-src 'self'");
            ctx.body = '<p>hi</p>';
          });
          r.post('/v1/echo', async (ctx) => {
            await Promise.resolve();
            ctx.body = { got: ctx.state.body as unknown };
          });
          r.get('/v1/broken', () => {
            throw new Error('secret internals');
          });
          r.get('/v1/items/:id', (ctx) => {
            ctx.body = { id: ctx.params.id };
          });
        },
      ],
    });
    const server: Server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen({ host: gatewayAddress, port: PORT, ipv6Only: true }, resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const target: Target = { host: gatewayAddress, port: PORT };

    // The caller from the peer address, on a route with no body.
    const me = await jsonRequest(target, linked, 'GET', '/v1/whoami');
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(me.json, { address: linked, subnet: linkedSubnet, roles: ['customer'] });
    assert.equal(observed.at(-1)?.route, '/v1/whoami');
    assert.equal(observed.at(-1)?.status, 200);

    // The Host guard comes first: a foreign Host is 421 even for a caller the next step would refuse (::1 is no Mycelium address).
    const rebound = await rawRequest(target, linked, raw('GET', '/v1/whoami', { host: `evil.example:${PORT}` }));
    assert.equal(rebound.status, 421, rebound.head);
    assert.match(rebound.head, /"code":"wrong_host"/);

    // A state-changing request from another origin: refused unread, and the connection is not reused.
    const crossSite = await rawRequest(target, linked, raw('POST', '/v1/echo', { host, origin: 'http://evil.example', 'content-type': 'application/json' }, '{"a":1}'));
    assert.equal(crossSite.status, 403, crossSite.head);
    assert.match(crossSite.head, /"code":"cross_site"/);
    assert.equal(header(crossSite.head, 'connection'), 'close');
    assert.equal(observed.at(-1)?.route, 'unmatched', 'refused before the route was matched');

    // JSON bodies: read before the handler; a bad one never reaches it.
    const echoed = await jsonRequest(target, linked, 'POST', '/v1/echo', { a: 1 });
    assert.equal(echoed.status, 200, echoed.text);
    assert.deepEqual(echoed.json, { got: { a: 1 } });
    const badJson = await jsonRequest(target, linked, 'POST', '/v1/echo', '{"a":');
    assert.equal(badJson.status, 400, badJson.text);
    assert.equal((badJson.json as { error: { field?: string } }).error.field, 'body');
    const plain = await rawRequest(target, linked, raw('POST', '/v1/echo', { host, 'content-type': 'text/plain' }, 'hello'));
    assert.equal(plain.status, 415, plain.head);

    // Routes: parameters, 404 for no route, 405 naming the allowed methods.
    const item = await jsonRequest(target, linked, 'GET', '/v1/items/a%20b');
    assert.deepEqual(item.json, { id: 'a b' });
    assert.equal(observed.at(-1)?.route, '/v1/items/:id');
    const missing = await jsonRequest(target, linked, 'GET', '/v1/nothing');
    assert.equal(missing.status, 404);
    assert.equal(errorCode(missing.json), 'not_found');
    assert.deepEqual(observed.at(-1), { route: 'unmatched', method: 'GET', status: 404 });
    const wrongMethod = await rawRequest(target, linked, raw('PUT', '/v1/whoami', { host }));
    assert.equal(wrongMethod.status, 405, wrongMethod.head);
    assert.equal(header(wrongMethod.head, 'allow'), 'GET');

    // Anything else thrown: a generic 500, details only in the log.
    const broken = await jsonRequest(target, linked, 'GET', '/v1/broken');
    assert.equal(broken.status, 500);
    assert.equal(errorCode(broken.json), 'internal');
    assert.doesNotMatch(broken.text, /secret internals/);
    assert.ok(errors.some((line) => line.includes('secret internals')), 'the error is logged');

    // Frame denial on HTML answers only; an existing CSP gains frame-ancestors.
    const page = await rawRequest(target, linked, raw('GET', '/page', { host }));
    assert.equal(page.status, 200, page.head);
    assert.equal(header(page.head, 'x-frame-options'), 'DENY');
    assert.equal(header(page.head, 'content-security-policy'), "frame-ancestors 'none'");
    const withCsp = await rawRequest(target, linked, raw('GET', '/page-with-csp', { host }));
    assert.equal(header(withCsp.head, 'content-security-policy'), "default-src 'self'; frame-ancestors 'none'");
    const json = await rawRequest(target, linked, raw('GET', '/v1/whoami', { host }));
    assert.equal(header(json.head, 'x-frame-options'), undefined);

    // The unlinked /64's bucket: two, then 429 with Retry-After; the admin's /64 is never limited.
    for (let i = 0; i < 2; i++) assert.equal((await jsonRequest(target, stranger, 'GET', '/v1/whoami')).status, 200);
    const limited = await rawRequest(target, stranger, raw('GET', '/v1/whoami', { host }));
    assert.equal(limited.status, 429, limited.head);
    assert.match(limited.head, /"limit":"http.unlinkedRequestsPerMinute"/);
    assert.ok(Number(header(limited.head, 'retry-after')) >= 1, limited.head);
    for (let i = 0; i < 4; i++) assert.equal((await jsonRequest(target, admin, 'GET', '/v1/whoami')).status, 200);
  });
}
