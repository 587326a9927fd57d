// The gateway's router: static and parameter routes, HEAD, 405 with Allow, percent-decoding, fall-through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Context } from 'koa';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa from 'koa';
import { Router, pathOf, type RouterContext } from '../../src/gateway/http/router.js';
import { PublicError } from '../../src/gateway/http/public-error.js';

/** A minimal fake of Koa's context, named as one: path, method, headers set, and a body. */
function fakeContext(method: string, path: string): Context & { headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  return { method, path, req: { method, url: path }, headers, set: (k: string, v: string) => void (headers[k] = v) } as unknown as Context & { headers: Record<string, string> };
}

async function dispatch(router: Router, method: string, path: string): Promise<{ ctx: RouterContext & { headers: Record<string, string> }; fellThrough: boolean }> {
  const ctx = fakeContext(method, path) as RouterContext & { headers: Record<string, string> };
  let fellThrough = false;
  await router.routes()(ctx, () => {
    fellThrough = true;
    return Promise.resolve();
  });
  return { ctx, fellThrough };
}

const router = new Router()
  .get('/v1/whoami', (ctx) => void (ctx.body = 'who'))
  .get('/v1/deployments/:id', (ctx) => void (ctx.body = `dep ${ctx.params.id}`))
  .put('/v1/deployments/:id/ssh-keys', (ctx) => void (ctx.body = `keys ${ctx.params.id}`))
  .delete('/v1/deployments/:id', (ctx) => void (ctx.body = `del ${ctx.params.id}`))
  .post('/admin/api/agents/:agent/approve', (ctx) => void (ctx.body = `approve ${ctx.params.agent}`));

test('static and parameter routes, with the matched pattern for metrics', async () => {
  const cases: Array<[string, string, string, string]> = [
    ['GET', '/v1/whoami', 'who', '/v1/whoami'],
    ['HEAD', '/v1/whoami', 'who', '/v1/whoami'],
    ['GET', '/v1/deployments/dep_1', 'dep dep_1', '/v1/deployments/:id'],
    ['DELETE', '/v1/deployments/dep_1', 'del dep_1', '/v1/deployments/:id'],
    ['PUT', '/v1/deployments/dep_2/ssh-keys', 'keys dep_2', '/v1/deployments/:id/ssh-keys'],
    ['POST', '/admin/api/agents/uhCAk%2Dx/approve', 'approve uhCAk-x', '/admin/api/agents/:agent/approve'],
  ];
  for (const [method, path, body, pattern] of cases) {
    const { ctx } = await dispatch(router, method, path);
    assert.equal(ctx.body, body, `${method} ${path}`);
    assert.equal(ctx.routePath, pattern);
  }
});

test('unknown paths fall through; empty parameters do not match', async () => {
  for (const path of ['/v1/nothing', '/v1/deployments/', '/v1/deployments/a/b', '/v1/whoami/']) {
    assert.equal((await dispatch(router, 'GET', path)).fellThrough, true, path);
  }
});

test('a known path with another method is a 405 naming the allowed methods', async () => {
  await assert.rejects(dispatch(router, 'POST', '/v1/whoami'), (e: unknown) => e instanceof PublicError && e.status === 405 && /GET/.test(e.hint ?? ''));
  const ctx = fakeContext('PATCH', '/v1/deployments/x');
  await assert.rejects(Promise.resolve(router.routes()(ctx, () => Promise.resolve())), PublicError);
  assert.equal(ctx.headers.allow, 'GET, DELETE');
});

test('bad percent-encoding in a parameter is a 400, not a crash', async () => {
  await assert.rejects(dispatch(router, 'GET', '/v1/deployments/%E0%A4%A'), (e: unknown) => e instanceof PublicError && e.status === 400);
});

test('pathOf gives what koa\'s ctx.path gives, for plain paths and for every target parseurl parses another way', () => {
  const app = new Koa();
  const targets = ['/v1/whoami', '/', '/v1/deployments/abc', '/v1/whoami?x=1', '/v1/who ami', '/v1/whoami#frag', '/a\tb', '/a\u00a0b', '/a\ufeffb', '/%7Euser/a%20b', '//double/slash', 'http://[4ab::1]:8480/v1/whoami?q', '*', 'v1/whoami', '/v1/whoami?', '/ünïcode'];
  for (const url of targets) {
    // A real koa context over a request with this target (koa reads req.url for ctx.path).
    const ctx = app.createContext({ url, method: 'GET', headers: {}, socket: {} } as unknown as IncomingMessage, { getHeader: () => undefined } as unknown as ServerResponse);
    const koaPath = ctx.path;
    const ours = pathOf(app.createContext({ url, method: 'GET', headers: {}, socket: {} } as unknown as IncomingMessage, { getHeader: () => undefined } as unknown as ServerResponse));
    assert.equal(ours, koaPath, JSON.stringify(url));
  }
});
