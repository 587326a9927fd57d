// The standby's 503 over a real socket has the project's error shape: `error.code` is "standby", with the active URL and the message inside `error`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { standbyHandler, type StandbyView } from '../../../src/gateway/ha/standby-server.js';

/** Serves the real standby handler on [::1] (requests and upgrades, as startStandbyServer wires them); resolves to its port. */
async function serveStandby(t: { after(fn: () => unknown): void }, view: StandbyView): Promise<number> {
  const handler = standbyHandler(view, []);
  const server = createServer((req, res) => handler.request(req, res));
  server.on('upgrade', (req, socket) => handler.upgrade(req, socket));
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  return (server.address() as AddressInfo).port;
}

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: { error?: { code?: unknown; message?: unknown; active?: unknown } } }

/** One request to the standby; `upgrade` asks for a WebSocket as an agent does. */
function ask(port: number, path: string, upgrade = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '::1', port, path, method: 'GET', headers: upgrade ? { Connection: 'Upgrade', Upgrade: 'websocket' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a standby answers customers and agents 503 with error.code "standby" and the active URL inside error, plus Retry-After and Location', async (t) => {
  const activeUrl = 'http://[400::a]:8480';
  const port = await serveStandby(t, { activeUrl: () => activeUrl, outage: () => null });
  const r = await ask(port, '/v1/offers');
  assert.equal(r.status, 503);
  assert.equal(r.body.error?.code, 'standby');
  assert.deepEqual(r.body, { error: { code: 'standby', active: activeUrl, message: `this gateway is a standby; the active gateway is ${activeUrl}` } });
  assert.equal(r.headers['retry-after'], '5');
  assert.equal(r.headers.location, `${activeUrl}/v1/offers`);
  const up = await ask(port, '/v1/agent', true);
  assert.equal(up.status, 503, "an agent's upgrade gets the same 503");
  assert.deepEqual(up.body, r.body);
  assert.equal(up.headers['retry-after'], '5');
});

test('a standby with no active gateway known, or cut off from its database, has no active field and says why in error.message', async (t) => {
  let outage: string | null = null;
  const port = await serveStandby(t, { activeUrl: () => undefined, outage: () => outage });
  const none = await ask(port, '/v1/balance');
  assert.equal(none.status, 503);
  assert.deepEqual(none.body, { error: { code: 'standby', message: 'this gateway is a standby and no active gateway holds the lease right now; try again shortly' } });
  assert.equal(none.headers.location, undefined);
  outage = 'lease: connect ECONNREFUSED';
  const down = await ask(port, '/v1/orders');
  assert.equal(down.body.error?.code, 'standby');
  assert.match(String(down.body.error?.message), /^this gateway cannot reach its database/);
  assert.doesNotMatch(JSON.stringify(down.body), /ECONNREFUSED/, "the database's error stays in the log");
});
