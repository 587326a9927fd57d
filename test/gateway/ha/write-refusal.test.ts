// A write the database refused (another gateway took over, or the database is down) reaches the customer as 503 unavailable with Retry-After, not as a bare 500.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import pino from 'pino';
import { errorMiddleware } from '../../../src/gateway/http/error-middleware.js';
import { StoreError } from '../../../src/gateway/store/store.js';
import { FencedError } from '../../../src/gateway/store/write-fence.js';
import { standbyBody } from '../../../src/gateway/ha/standby-server.js';

const THROWN: Record<string, () => Error> = {
  '/fenced': () => new FencedError('write refused: lease token 3 is no longer current'),
  '/db-down': () => new StoreError('io', 'store.write: the database (postgresql://hypha@/hypha) is unreachable: connect ECONNREFUSED'),
  '/corrupt': () => new StoreError('corrupt', 'store.open: bad row'),
  '/bug': () => new Error('a bug'),
};

const CASES = [
  { path: '/fenced', status: 503, code: 'unavailable', message: /no longer the active one; the write was refused/, retryAfter: '5' },
  { path: '/db-down', status: 503, code: 'unavailable', message: /cannot reach its database; the write was refused/, retryAfter: '5' },
  { path: '/corrupt', status: 500, code: 'internal', message: /^internal error$/, retryAfter: undefined },
  { path: '/bug', status: 500, code: 'internal', message: /^internal error$/, retryAfter: undefined },
] as const;

test('refused writes: 503 unavailable with Retry-After for a fenced write or an unreachable database; other failures stay a generic 500', async (t) => {
  const app = new Koa();
  app.use(errorMiddleware(pino({ level: 'silent' })));
  app.use((ctx) => {
    throw (THROWN[ctx.path] ?? (() => new Error('no such case')))();
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  for (const c of CASES) {
    const r = await fetch(`http://127.0.0.1:${port}${c.path}`, { method: 'POST' });
    const body = (await r.json()) as { error: { code: string; message: string } };
    assert.equal(r.status, c.status, c.path);
    assert.equal(body.error.code, c.code, c.path);
    assert.match(body.error.message, c.message, c.path);
    assert.doesNotMatch(JSON.stringify(body), /postgresql:|ECONNREFUSED|lease token/, `${c.path}: no detail of the database in the answer`);
    assert.equal(r.headers.get('retry-after') ?? undefined, c.retryAfter, c.path);
  }
});

test('a standby cut off from its database says so (and names the active gateway last seen, if any); otherwise it names the active one', () => {
  const down = 'lease: the database did not answer: connect ENOENT';
  assert.deepEqual(JSON.parse(standbyBody(undefined, down)), {
    error: { code: 'standby', message: 'this gateway cannot reach its database: nothing is written here (no order, payment or change) until it can; try again shortly' },
  });
  assert.match((JSON.parse(standbyBody('http://[400::b]:8480', down)) as { error: { message: string } }).error.message, /cannot reach its database.*last seen, http:\/\/\[400::b\]:8480$/);
  assert.deepEqual(JSON.parse(standbyBody('http://[400::b]:8480')), { error: { code: 'standby', active: 'http://[400::b]:8480', message: 'this gateway is a standby; the active gateway is http://[400::b]:8480' } });
  assert.doesNotMatch(standbyBody(undefined, down), /ENOENT|did not answer/, 'the database\'s error stays in the log');
});
