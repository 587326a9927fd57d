// createApp's Koa app calls its one middleware directly (no koa-compose per request): a middleware added to it afterwards is refused when the server is made, not silently skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createApp } from '../../src/gateway/http/app.js';
import { OriginPolicy } from '../../src/gateway/http/origin-guard.js';

function app() {
  return createApp({
    log: pino({ level: 'silent' }),
    origin: new OriginPolicy(['[4ab::1]:8480']),
    principals: { linkOf: () => undefined, isAdmin: () => false, isFarmer: () => false },
    routes: [],
  });
}

test('createApp: its one middleware makes a request handler', () => {
  assert.equal(typeof app().callback(), 'function');
});

test('createApp: a second middleware is refused when the handler is made (it would never run)', () => {
  const a = app();
  a.use(async (_ctx, next) => {
    await next();
  });
  assert.throws(() => a.callback(), /runs its one middleware and no other \(got 2\)/);
});
