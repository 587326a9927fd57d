// The standby's 503 over a real socket: the project's error shape for API callers (`error.code` "standby", the active URL and the message inside `error`), a short HTML page for a browser opening the customer page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
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

/** One request to the standby as a browser sends it; the body as text. */
function browse(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Answer['headers']; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '::1', port, path, method, headers: { accept: 'text/html', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? 'name=x' : undefined);
  });
}

test('a browser opening the customer page on a standby gets a 503 HTML page that says why and reloads itself, within a CSP that allows only its own style', async (t) => {
  let active: string | undefined;
  let outage: string | null = null;
  const port = await serveStandby(t, { activeUrl: () => active, outage: () => outage });
  const visit = await browse(port, 'GET', '/');
  assert.equal(visit.status, 503);
  assert.match(String(visit.headers['content-type']), /^text\/html; charset=utf-8/);
  assert.equal(visit.headers['retry-after'], '5');
  assert.equal(visit.headers['cache-control'], 'no-store');
  assert.equal(visit.headers['x-content-type-options'], 'nosniff');
  assert.equal(visit.headers['x-frame-options'], 'DENY');
  assert.match(visit.text, /^<!doctype html>/);
  assert.match(visit.text, /<meta http-equiv="refresh" content="5">/);
  assert.match(visit.text, /handing over to another/);
  assert.doesNotMatch(visit.text, /<script/);
  const csp = String(visit.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /form-action 'none'/);
  const style = /<style>([\s\S]*?)<\/style>/.exec(visit.text)?.[1] ?? '';
  assert.ok(style.length > 0, 'the page has its style sheet');
  assert.ok(csp.includes(`'sha256-${createHash('sha256').update(style, 'utf8').digest('base64')}'`), 'the CSP allows exactly the inline style sheet');

  active = 'http://[400::a]:8480/"><script>x</script>';
  const linked = await browse(port, 'GET', '/page/deployments/d1');
  assert.ok(linked.text.includes('href="http://[400::a]:8480/&quot;&gt;&lt;script&gt;x&lt;/script&gt;/page/deployments/d1"'), 'the active URL is a link to the same page there, escaped');
  assert.doesNotMatch(linked.text, /<script/);

  active = undefined;
  const posted = await browse(port, 'POST', '/page/orders', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.equal(posted.status, 503);
  assert.match(posted.text, /Nothing was done with the form you sent/);
  assert.match(posted.text, /<meta http-equiv="refresh" content="5; url=\/">/, 'a posted form is not sent again by the reload');

  outage = 'lease: connect ECONNREFUSED';
  const down = await browse(port, 'GET', '/page');
  assert.match(down.text, /cannot reach its database/);
  assert.doesNotMatch(down.text, /ECONNREFUSED/, "the database's error stays in the log");
});

test('curl, the API, the page\'s own live refresh and other paths still get the JSON refusal from a standby', async (t) => {
  const port = await serveStandby(t, { activeUrl: () => undefined, outage: () => null });
  // curl's own Accept on `/` is what `hypha lab status` probes a gateway's role with (src/lab/lab-gateways.ts).
  for (const [method, path, headers] of [['GET', '/', { accept: '*/*' }], ['GET', '/page', { accept: 'application/json' }], ['GET', '/v1/whoami', {}], ['GET', '/page', { 'x-hypha-fragment': '1' }], ['POST', '/v1/orders', {}], ['DELETE', '/page/keys/x', {}]] as const) {
    const r = await browse(port, method, path, headers);
    assert.equal(r.status, 503, `${method} ${path}`);
    assert.match(String(r.headers['content-type']), /^application\/json/, `${method} ${path}`);
    assert.equal((JSON.parse(r.text) as Answer['body']).error?.code, 'standby');
  }
});
