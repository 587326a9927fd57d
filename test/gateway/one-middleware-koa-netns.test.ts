// createApp's own request listener (one-middleware-koa.ts) against Koa's: two apps built alike, one served by app.callback(), the other by Koa's own callback and respond; every answer shape must come back byte for byte the same (Date aside), with the same metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type RequestListener } from 'node:http';
import Koa from 'koa';
import { pino } from 'pino';
import { createApp } from '../../src/gateway/http/app.js';
import { OriginPolicy } from '../../src/gateway/http/origin-guard.js';
import { registerPublicRoutes } from '../../src/gateway/http/public-routes.js';
import { RateLimiter } from '../../src/gateway/limits/rate-limiter.js';
import { parseIpv6, subnet64Of } from '../../src/identity/index.js';
import { addLoopbackAddresses } from '../helpers/private-netns.js';
import { inPrivateNamespace } from '../helpers/namespaced-test-file.js';
import { rawRequest, type Target } from '../helpers/source-http.js';

const NAME = "createApp's request listener answers as Koa's own does";
const OURS = 8480;
const KOAS = 8481;

/** Builds one app; `seen` gets what its observer is told. */
function buildApp(gatewayAddress: string, linkedSubnet: string, linked: string, seen: string[]): Koa {
  const hosts = [`[${gatewayAddress}]:${OURS}`, `[${gatewayAddress}]:${KOAS}`];
  return createApp({
    log: pino({ level: 'silent' }),
    origin: new OriginPolicy(hosts),
    principals: {
      linkOf: (subnet) => (subnet === linkedSubnet ? { subnet, agent: 'uhCAkalice', address: linked, linkedAtMs: 0, nonce: 'n', statement: 's', signature: 'x' } : undefined),
      isAdmin: () => false,
      isFarmer: () => false,
    },
    // Two requests a minute for an unlinked /64, so the 429 (with Retry-After) is one of the shapes.
    rateLimits: { unlinked: new RateLimiter(2, 2, Date.now), unlinkedPerMinute: 2, linked: new RateLimiter(600, 600, Date.now), linkedPerMinute: 600 },
    observe: (route, method, status) => void seen.push(`${route} ${method} ${status}`),
    routes: [
      (r) => registerPublicRoutes(r, { gateway: { agent: 'uhCAkgateway', url: `http://${hosts[0] as string}` }, offers: () => [], availableSlots: () => Promise.resolve(new Map()) }),
      (r) => {
        r.get('/object', (ctx) => {
          ctx.body = { a: 1, b: 'two' };
        });
        r.get('/buffer', (ctx) => {
          ctx.body = Buffer.from([0, 1, 2, 250]);
        });
        r.get('/text', (ctx) => {
          ctx.body = 'plain words';
        });
        r.get('/html', (ctx) => {
          ctx.type = 'text/html; charset=utf-8';
          ctx.body = '<p>hi</p>';
        });
        r.get('/nothing', (ctx) => {
          ctx.status = 204;
        });
        r.get('/empty-with-body', (ctx) => {
          // The status first: the body setter keeps it, and respond must still send no body.
          ctx.status = 304;
          ctx.body = 'dropped';
        });
        r.get('/null', (ctx) => {
          ctx.body = null;
        });
        r.get('/status-only', (ctx) => {
          ctx.status = 202;
        });
        r.get('/slow-text', async (ctx) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          ctx.body = 'waited';
        });
        r.get('/broken', () => {
          throw new Error('internals');
        });
        r.get('/broken-later', async () => {
          await Promise.resolve();
          throw new Error('internals');
        });
        r.get('/own-writer', (ctx) => {
          ctx.respond = false;
          ctx.res.writeHead(200, { 'content-type': 'text/plain' }).end('written by the route');
        });
        r.post('/echo', (ctx) => {
          ctx.body = { got: ctx.state.body as unknown };
        });
      },
    ],
  });
}

/** A raw request with `connection: close`. */
function raw(method: string, path: string, headers: Record<string, string>, body = ''): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'connection: close', `content-length: ${Buffer.byteLength(body)}`, '', body];
  return Buffer.from(lines.join('\r\n'));
}

if (inPrivateNamespace({ name: NAME, moduleUrl: import.meta.url, tests: 1, timeoutMs: 120_000 })) {
  test(NAME, async (t) => {
    const [gatewayAddress, linked, stranger, foreign] = (await addLoopbackAddresses(4)) as [string, string, string, string];
    const linkedSubnet = subnet64Of(parseIpv6(linked));
    const seenOurs: string[] = [];
    const seenKoas: string[] = [];
    const ours = buildApp(gatewayAddress, linkedSubnet, linked, seenOurs);
    const koas = buildApp(gatewayAddress, linkedSubnet, linked, seenKoas);
    // Koa's own listener: koa-compose, handleRequest, onFinished and respond, as for any Koa app.
    const koaListener = Koa.prototype.callback.call(koas) as RequestListener;
    const servers = [createServer(ours.callback()), createServer(koaListener)];
    await Promise.all(servers.map((s, i) => new Promise<void>((resolve) => s.listen({ host: gatewayAddress, port: i === 0 ? OURS : KOAS, ipv6Only: true }, resolve))));
    t.after(() => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))));

    /** The same request to both; the answers must match once the Date is set aside (the hints name the first host, the same for both). */
    let sent = 0;
    const same = async (from: string, method: string, path: string, headers: Record<string, string> = {}, body = ''): Promise<string> => {
      const answers: string[] = [];
      sent++;
      for (const port of [OURS, KOAS]) {
        const target: Target = { host: gatewayAddress, port };
        const got = await rawRequest(target, from, raw(method, path, { host: `[${gatewayAddress}]:${port}`, ...headers }, body));
        assert.equal(got.error, undefined, `${method} ${path} to ${port}: ${got.error ?? ''}`);
        answers.push(got.head.replace(/\r\nDate: [^\r]*/, '\r\nDate: -'));
      }
      assert.equal(answers[0], answers[1], `${method} ${path} from ${from}`);
      return answers[0] as string;
    };

    // whoami and a 404 in full, as the gateway sent them before it wrote answers itself (the header
    // names' case is Node's and Koa's: ctx.type writes `Content-Type`, whoami its own `content-type`).
    const whoamiBody = JSON.stringify({ address: linked, subnet: linkedSubnet, linked: true, agent: 'uhCAkalice', roles: ['customer'] });
    assert.equal(
      await same(linked, 'GET', '/v1/whoami'),
      `HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\nContent-Length: ${whoamiBody.length}\r\nDate: -\r\nConnection: close\r\n\r\n${whoamiBody}`,
    );
    const notFoundBody = JSON.stringify({ error: { code: 'not_found', message: 'no route for GET /v1/nowhere', hint: 'GET / lists what this gateway offers' } });
    assert.equal(
      await same(linked, 'GET', '/v1/nowhere'),
      `HTTP/1.1 404 Not Found\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${notFoundBody.length}\r\nDate: -\r\nConnection: close\r\n\r\n${notFoundBody}`,
    );
    assert.match(await same(linked, 'HEAD', '/v1/whoami'), /Content-Length: \d+/);
    assert.match(await same(linked, 'GET', '/object'), /\{"a":1,"b":"two"\}$/);
    await same(linked, 'HEAD', '/object');
    assert.match(await same(linked, 'GET', '/buffer'), /application\/octet-stream/);
    await same(linked, 'GET', '/text');
    assert.match(await same(linked, 'GET', '/html'), /x-frame-options: DENY/i);
    await same(linked, 'HEAD', '/html');
    assert.match(await same(linked, 'GET', '/nothing'), /^HTTP\/1\.1 204 /);
    assert.match(await same(linked, 'GET', '/empty-with-body'), /^HTTP\/1\.1 304 /);
    assert.match(await same(linked, 'GET', '/null'), /^HTTP\/1\.1 204 /);
    assert.match(await same(linked, 'GET', '/status-only'), /^HTTP\/1\.1 202 Accepted[\s\S]*\r\n\r\nAccepted$/);
    assert.match(await same(linked, 'GET', '/slow-text'), /waited$/);
    assert.match(await same(linked, 'GET', '/broken'), /^HTTP\/1\.1 500 /);
    assert.match(await same(linked, 'GET', '/broken-later'), /^HTTP\/1\.1 500 /);
    assert.match(await same(linked, 'GET', '/own-writer'), /written by the route\r\n0\r\n/);
    assert.match(await same(linked, 'PUT', '/v1/whoami'), /^HTTP\/1\.1 405 [\s\S]*allow: GET/);
    assert.match(await same(linked, 'POST', '/echo', { 'content-type': 'application/json' }, '{"x":[1,2]}'), /\{"got":\{"x":\[1,2\]\}\}$/);
    assert.match(await same(linked, 'POST', '/echo', { 'content-type': 'application/json' }, '{"x":'), /^HTTP\/1\.1 400 /);
    assert.match(await same(linked, 'POST', '/echo', { 'content-type': 'application/json', origin: 'http://evil.example' }, '{}'), /^HTTP\/1\.1 403 [\s\S]*connection: close/i);
    assert.match(await same(linked, 'GET', '/v1/whoami', { host: 'evil.example' }), /^HTTP\/1\.1 421 /);
    assert.match(await same(linked, 'GET', '/'), /text\/plain; charset=utf-8/);
    // A caller outside 400::/7 cannot be had here; an unlinked one, and its bucket running out.
    await same(stranger, 'GET', '/v1/whoami');
    await same(stranger, 'GET', '/v1/whoami');
    assert.match(await same(stranger, 'GET', '/v1/whoami'), /^HTTP\/1\.1 429 [\s\S]*retry-after: \d+/i);
    await same(foreign, 'GET', '/v1/whoami');

    assert.equal(seenOurs.length, sent, 'every request was observed once');
    assert.deepEqual(seenOurs, seenKoas, 'the metrics saw the same routes, methods and statuses');
  });
}
