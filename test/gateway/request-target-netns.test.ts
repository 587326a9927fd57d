// The gateway's app answers each request target and Host form a client can send — plain, with a query, absolute-form, another spelling of the Host name, a Host sent twice, a foreign Host — over real sockets from a Mycelium address (router.ts pathOf, origin-guard.ts hostAsSent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { pino } from 'pino';
import { createApp } from '../../src/gateway/http/app.js';
import { OriginPolicy } from '../../src/gateway/http/origin-guard.js';
import { registerPublicRoutes } from '../../src/gateway/http/public-routes.js';
import { parseIpv6, subnet64Of } from '../../src/identity/index.js';
import { addLoopbackAddresses } from '../helpers/private-netns.js';
import { inPrivateNamespace } from '../helpers/namespaced-test-file.js';

const NAME = 'the app answers every request-target and Host form as before (plain paths, queries, absolute-form, Host spellings)';
const PORT = 8480;

/** Sends `head` (request line and headers, CRLF-separated, without the blank line) on a new connection from `from`; resolves with the status and body. */
function raw(to: string, from: string, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: to, port: PORT, localAddress: from, family: 6 });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(`${head}\r\nConnection: close\r\n\r\n`);
  });
}

if (inPrivateNamespace({ name: NAME, moduleUrl: import.meta.url, tests: 1, timeoutMs: 120_000 })) {
  test(NAME, async (t) => {
    const [gatewayAddress, caller] = (await addLoopbackAddresses(2)) as [string, string];
    const subnet = subnet64Of(parseIpv6(caller));
    const host = `[${gatewayAddress}]:${PORT}`;
    const app = createApp({
      log: pino({ level: 'silent' }),
      origin: new OriginPolicy([host]),
      principals: { linkOf: () => undefined, isAdmin: () => false, isFarmer: () => false },
      routes: [(r) => registerPublicRoutes(r, { gateway: { agent: 'uhCAkgateway', url: `http://${host}` }, offers: () => [], availableSlots: () => Promise.resolve(new Map()) })],
    });
    const server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(PORT, gatewayAddress, resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const me = JSON.stringify({ address: caller, subnet, linked: false, roles: [] });
    const ask = (head: string): Promise<{ status: number; body: string }> => raw(gatewayAddress, caller, head);
    const code = (body: string): unknown => (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;

    assert.deepEqual(await ask(`GET /v1/whoami HTTP/1.1\r\nHost: ${host}`), { status: 200, body: me }, 'a plain path');
    assert.deepEqual(await ask(`GET /v1/whoami?x=1&y HTTP/1.1\r\nHost: ${host}`), { status: 200, body: me }, 'a query is not part of the path');
    assert.deepEqual(await ask(`GET /v1/whoami? HTTP/1.1\r\nHost: ${host}`), { status: 200, body: me }, 'an empty query');
    assert.deepEqual(await ask(`GET http://${host}/v1/whoami HTTP/1.1\r\nHost: ${host}`), { status: 200, body: me }, 'absolute-form: the path of the URL');
    assert.deepEqual(await ask(`GET /v1/whoami HTTP/1.1\r\nhOsT: ${host}\r\nUser-Agent: t`), { status: 200, body: me }, 'the Host name in any case');
    const encoded = await ask(`GET /v1/who%61mi HTTP/1.1\r\nHost: ${host}`);
    assert.equal(encoded.status, 404, 'a percent-encoded static path is another path (as ctx.path, which is not decoded)');
    assert.equal(code(encoded.body), 'not_found');
    assert.equal((await ask(`GET //v1/whoami HTTP/1.1\r\nHost: ${host}`)).status, 404, 'a doubled slash is another path');
    // Node keeps the first of two Host headers (req.headers.host): our Host first is answered, a foreign one first is refused.
    assert.deepEqual(await ask(`GET /v1/whoami HTTP/1.1\r\nHost: ${host}\r\nHost: rebind.example:${PORT}`), { status: 200, body: me }, 'two Hosts, ours first');
    const foreignFirst = await ask(`GET /v1/whoami HTTP/1.1\r\nHost: rebind.example:${PORT}\r\nHost: ${host}`);
    assert.equal(code(foreignFirst.body), 'wrong_host', 'two Hosts, a foreign one first');
    const foreign = await ask(`GET /v1/whoami HTTP/1.1\r\nHost: rebind.example:${PORT}`);
    assert.equal(code(foreign.body), 'wrong_host', 'a foreign Host');
  });
}
