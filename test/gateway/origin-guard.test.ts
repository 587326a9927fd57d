// The Host/Origin/Sec-Fetch-Site guard: curl passes, browsers' cross-site and rebound requests are refused, HTML is never framed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { Context } from 'koa';
import { OriginPolicy, frameDenial, hostAsSent, isHtml, normaliseHost, originGuard, refuseForeign, type GuardedRequest } from '../../src/gateway/http/origin-guard.js';
import type { PublicError } from '../../src/gateway/http/public-error.js';
import { errorMiddleware } from '../../src/gateway/http/error-middleware.js';
import { errorBody } from '../../src/gateway/http/public-error.js';
import pino from 'pino';

const GW = '[5a1:2b3:c4d5:e6f7::1]:8480';
const policy = new OriginPolicy([GW, '127.0.0.1:8480']);

interface Case {
  readonly name: string;
  readonly req: Partial<GuardedRequest>;
  /** null: allowed; otherwise the status, the code and the field named. */
  readonly want: null | readonly [number, string, string];
}

const CASES: readonly Case[] = [
  { name: 'curl -d: POST, no Origin, no Sec-Fetch-Site', req: { method: 'POST' }, want: null },
  { name: 'curl GET', req: { method: 'GET' }, want: null },
  { name: 'the Host spelled otherwise (upper case, leading zeros, zero runs)', req: { method: 'POST', host: '[05A1:02B3:C4D5:E6F7:0:0:0:1]:8480' }, want: null },
  { name: 'a second allowed host (an SSH tunnel)', req: { method: 'POST', host: '127.0.0.1:8480', origin: 'http://127.0.0.1:8480' }, want: null },
  { name: 'a same-origin browser POST', req: { method: 'POST', origin: `http://${GW}`, secFetchSite: 'same-origin' }, want: null },
  { name: 'a same-origin Origin spelled otherwise', req: { method: 'POST', origin: 'http://[5A1:2B3:C4D5:E6F7:0::1]:8480' }, want: null },
  { name: 'a typed-in navigation (Sec-Fetch-Site: none)', req: { method: 'POST', secFetchSite: 'none' }, want: null },
  { name: 'a GET with a foreign Origin (the answer stays unreadable to the page)', req: { method: 'GET', origin: 'https://evil.example', secFetchSite: 'cross-site' }, want: null },
  { name: 'a cross-site POST (fetch no-cors from another site)', req: { method: 'POST', origin: 'https://evil.example', secFetchSite: 'cross-site' }, want: [403, 'cross_site', 'origin'] },
  { name: 'a cross-site form without Origin, Sec-Fetch-Site only', req: { method: 'POST', secFetchSite: 'cross-site' }, want: [403, 'cross_site', 'sec-fetch-site'] },
  { name: 'a same-site POST (another port of the same host)', req: { method: 'POST', secFetchSite: 'same-site' }, want: [403, 'cross_site', 'sec-fetch-site'] },
  { name: 'Origin: null (a sandboxed frame, a data: page)', req: { method: 'POST', origin: 'null' }, want: [403, 'cross_site', 'origin'] },
  { name: 'an Origin on another port of our address', req: { method: 'POST', origin: 'http://[5a1:2b3:c4d5:e6f7::1]:9999' }, want: [403, 'cross_site', 'origin'] },
  { name: 'an https Origin of our host', req: { method: 'POST', origin: `https://${GW}` }, want: [403, 'cross_site', 'origin'] },
  { name: 'PUT cross-site', req: { method: 'PUT', origin: 'https://evil.example' }, want: [403, 'cross_site', 'origin'] },
  { name: 'DELETE same-site', req: { method: 'DELETE', secFetchSite: 'same-site' }, want: [403, 'cross_site', 'sec-fetch-site'] },
  { name: 'a rebound DNS name, GET', req: { method: 'GET', host: 'rebind.example:8480' }, want: [421, 'wrong_host', 'host'] },
  { name: 'a rebound DNS name, POST with its own Origin', req: { method: 'POST', host: 'rebind.example:8480', origin: 'http://rebind.example:8480', secFetchSite: 'same-origin' }, want: [421, 'wrong_host', 'host'] },
  { name: 'our address on another port', req: { method: 'GET', host: '[5a1:2b3:c4d5:e6f7::1]:80' }, want: [421, 'wrong_host', 'host'] },
  { name: 'localhost', req: { method: 'GET', host: 'localhost:8480' }, want: [421, 'wrong_host', 'host'] },
  { name: 'a Host with a path or user part', req: { method: 'GET', host: 'evil@[5a1:2b3:c4d5:e6f7::1]:8480' }, want: [421, 'wrong_host', 'host'] },
  { name: 'a Host sent twice', req: { method: 'GET', host: '\u0000repeated' }, want: [421, 'wrong_host', 'host'] },
  { name: 'no Host (HTTP/1.0)', req: { method: 'GET', host: '' }, want: [400, 'bad_request', 'host'] },
];

test('the guard, case by case', async (t) => {
  for (const c of CASES) {
    await t.test(c.name, () => {
      const req: GuardedRequest = { method: 'GET', host: GW, origin: undefined, secFetchSite: undefined, ...c.req };
      const err = policy.check(req);
      if (c.want === null) {
        assert.equal(err, null, err?.message);
        return;
      }
      assert.ok(err, 'refused');
      const [status, code, field] = c.want;
      assert.equal(err.status, status);
      assert.equal(err.code, code);
      assert.equal(err.extra.field, field);
      if (code === 'wrong_host') assert.ok(err.hint?.includes(`http://${GW}/`), `the hint names the gateway's own URL: ${err.hint}`);
    });
  }
});

test('refuseForeign (a set lookup for a safe method with our Host as written) refuses exactly what check refuses', () => {
  const guard = refuseForeign(policy);
  const cases: Array<{ name: string; req: GuardedRequest; hostHeader?: string | string[] }> = [
    ...CASES.map((c) => ({ name: c.name, req: { method: 'GET', host: GW, origin: undefined, secFetchSite: undefined, ...c.req } })),
    // Node joins no Host: a second one makes the request look repeated to singleHeader.
    { name: 'a Host given as two values', req: { method: 'GET', host: '\u0000repeated', origin: undefined, secFetchSite: undefined }, hostHeader: [GW, GW] },
    { name: 'HEAD with our Host and a foreign Origin', req: { method: 'HEAD', host: GW, origin: 'https://evil.example', secFetchSite: 'cross-site' } },
    { name: 'OPTIONS with a foreign Host', req: { method: 'OPTIONS', host: 'rebind.example:8480', origin: undefined, secFetchSite: undefined } },
  ];
  for (const c of cases) {
    const headers: Record<string, string | string[]> = {};
    const host = c.hostHeader ?? c.req.host;
    if (host !== undefined) headers.host = host;
    if (c.req.origin !== undefined) headers.origin = c.req.origin;
    if (c.req.secFetchSite !== undefined) headers['sec-fetch-site'] = c.req.secFetchSite;
    const set: Record<string, string> = {};
    // Node's rawHeaders: name, value, … in the order sent (a header given twice appears twice).
    const rawHeaders = Object.entries(headers).flatMap(([name, value]) => (Array.isArray(value) ? value.flatMap((v) => [name, v]) : [name, value]));
    const ctx = { method: c.req.method, req: { method: c.req.method, headers, rawHeaders }, set: (k: string, v: string) => void (set[k] = v) } as unknown as Context;
    let thrown: PublicError | undefined;
    try {
      guard(ctx);
    } catch (err) {
      thrown = err as PublicError;
    }
    const want = policy.check(c.req);
    assert.deepEqual(thrown ? errorBody(thrown) : null, want ? errorBody(want) : null, c.name);
    assert.equal(set.connection, want ? 'close' : undefined, `${c.name}: a refusal closes the connection`);
  }
});

test('refuseForeign lets a safe request with our one Host through without building req.headers, and sends anything else to the full check', () => {
  const guard = refuseForeign(policy);
  // Node builds req.headers on first use (lib/_http_incoming.js); a getter that throws shows whether the guard asked for it.
  const ctxOf = (method: string, rawHeaders: string[], headers: Record<string, string | string[]>): { ctx: Context; built: () => boolean } => {
    let built = false;
    const req = { method, rawHeaders, get headers() { built = true; return headers; } };
    return { ctx: { method, req, set: () => undefined } as unknown as Context, built: () => built };
  };
  for (const name of ['Host', 'host', 'HOST']) {
    const { ctx, built } = ctxOf('GET', [name, GW, 'User-Agent', 'curl/8'], { host: GW, 'user-agent': 'curl/8' });
    guard(ctx);
    assert.equal(built(), false, `${name}: our Host, GET: no req.headers`);
  }
  // Two Host headers, a foreign Host, no Host, an unsafe method: the full check, which reads req.headers.
  const twice = ctxOf('GET', ['Host', GW, 'Host', 'rebind.example:8480'], { host: GW });
  guard(twice.ctx);
  assert.equal(twice.built(), true, 'a Host sent twice takes the full check');
  const foreign = ctxOf('GET', ['Host', 'rebind.example:8480'], { host: 'rebind.example:8480' });
  assert.throws(() => guard(foreign.ctx), (err: PublicError) => err.code === 'wrong_host');
  const post = ctxOf('POST', ['Host', GW], { host: GW });
  guard(post.ctx);
  assert.equal(post.built(), true, 'a POST takes the full check (Origin, Sec-Fetch-Site)');
  assert.equal(hostAsSent([]), undefined);
  assert.equal(hostAsSent(['hosts', 'x', 'Host', GW]), GW);
  assert.equal(hostAsSent(['host', GW, 'HOST', GW]), undefined);
});

test('isHtml: what koa\'s response.type (up to the first ";") compared case-blind with text/html says', () => {
  const koaSays = (v: string): boolean => (v.split(';', 1)[0] as string).toLowerCase() === 'text/html';
  const values = ['text/html', 'text/html; charset=utf-8', 'TEXT/HTML', 'Text/Html;charset=utf-8', 'text/html;', 'text/htmlx', 'text/html ;charset=utf-8', ' text/html', 'text/htm', 'application/json; charset=utf-8', 'text/plain', 'application/xhtml+xml', ''];
  for (const v of values) assert.equal(isHtml(v), koaSays(v), JSON.stringify(v));
  assert.equal(isHtml(undefined), false, 'no Content-Type');
  assert.equal(isHtml(42), false);
});

test('normaliseHost: one spelling for an IPv6 literal, nothing for what is not a host', () => {
  assert.equal(normaliseHost('[05A1:0:0:0:0:0:0:1]:8480'), '[5a1::1]:8480');
  assert.equal(normaliseHost('[5a1::1]:80'), '[5a1::1]');
  assert.equal(normaliseHost('a/b'), undefined);
  assert.equal(normaliseHost('a b:80'), undefined);
  assert.equal(normaliseHost('[zz::1]:80'), undefined);
});

/** Sends one raw request to a local server; the status, headers and body. */
function send(port: number, method: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: '/', headers, setHost: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('in a real Koa server: a refused request never reaches the handler; HTML answers are never framed', async (t) => {
  let reached = 0;
  const app = new Koa();
  app.silent = true;
  // Koa composes its middleware when callback() is called: after they are all added, below.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const local = new OriginPolicy([`127.0.0.1:${port}`]);
  app.use(errorMiddleware(pino({ level: 'silent' })));
  app.use(originGuard(local));
  app.use(frameDenial);
  app.use((ctx) => {
    reached++;
    if (ctx.method === 'GET') {
      ctx.type = 'text/html; charset=utf-8';
      ctx.set('content-security-policy', "default-src 'none'");
      ctx.body = '<p>hello</p>';
    } else ctx.body = { ok: true };
  });

  server.on('request', app.callback());

  const curlLike = await send(port, 'POST', { host: `127.0.0.1:${port}`, 'content-type': 'application/x-www-form-urlencoded' });
  assert.equal(curlLike.status, 200);
  assert.equal(reached, 1);

  const cross = await send(port, 'POST', { host: `127.0.0.1:${port}`, origin: 'http://127.0.0.1:1', 'sec-fetch-site': 'same-site' });
  assert.equal(cross.status, 403);
  assert.deepEqual(JSON.parse(cross.body), errorBody(local.check({ method: 'POST', host: `127.0.0.1:${port}`, origin: 'http://127.0.0.1:1', secFetchSite: 'same-site' })!));
  const rebound = await send(port, 'GET', { host: `rebind.example:${port}` });
  assert.equal(rebound.status, 421);
  assert.match(rebound.body, /wrong_host/);
  assert.equal(reached, 1, 'neither refused request reached the handler');

  const page = await send(port, 'GET', { host: `127.0.0.1:${port}` });
  assert.equal(page.status, 200);
  assert.equal(page.headers['x-frame-options'], 'DENY');
  assert.equal(page.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
});
