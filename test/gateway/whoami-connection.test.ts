// GET /v1/whoami on one kept-alive connection from a real Mycelium source address: the answer (built once per caller state) follows every unlink, relink and role change on the next request, and a customer route refuses an unlinked caller at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, createServer, request } from 'node:http';
import { pino } from 'pino';
import { createApp } from '../../src/gateway/http/app.js';
import { requireCustomer } from '../../src/gateway/http/guards.js';
import { OriginPolicy } from '../../src/gateway/http/origin-guard.js';
import { registerPublicRoutes } from '../../src/gateway/http/public-routes.js';
import type { LinkRecord } from '../../src/gateway/store/records.js';
import { RateLimiter } from '../../src/gateway/limits/rate-limiter.js';
import { parseIpv6, subnet64Of } from '../../src/identity/index.js';
import { addLoopbackAddresses } from '../helpers/private-netns.js';
import { inPrivateNamespace } from '../helpers/namespaced-test-file.js';

const NAME = 'whoami on one kept-alive connection follows unlink, relink and roles at once';
const PORT = 8480;
const ALICE = 'uhCAkalice';
const BOB = 'uhCAkbob';

/** What one request on the kept-alive connection got. */
interface Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly contentLength: string | undefined;
  readonly text: string;
  /** Whether the request went on a connection an earlier request had opened. */
  readonly reused: boolean;
}

if (inPrivateNamespace({ name: NAME, moduleUrl: import.meta.url, tests: 1, timeoutMs: 120_000 })) {
  test(NAME, async (t) => {
    const [gatewayAddress, caller] = (await addLoopbackAddresses(2)) as [string, string];
    const subnet = subnet64Of(parseIpv6(caller));
    const host = `[${gatewayAddress}]:${PORT}`;
    // The links, admins and approvals as wiring/http-part.ts reads them from the store; a link
    // written again is a new record object, as the stores' put makes one.
    const links = new Map<string, LinkRecord>();
    const farmers = new Set<string>();
    const linkTo = (agent: string): void => void links.set(subnet, JSON.parse(JSON.stringify({ subnet, agent, address: caller, linkedAtMs: Date.now(), nonce: 'n', statement: 's', signature: 'x' })) as LinkRecord);
    const app = createApp({
      log: pino({ level: 'silent' }),
      origin: new OriginPolicy([host]),
      principals: { linkOf: (s) => links.get(s), isAdmin: () => false, isFarmer: (agent) => farmers.has(agent) },
      rateLimits: { unlinked: new RateLimiter(600, 600, Date.now), unlinkedPerMinute: 600, linked: new RateLimiter(600, 600, Date.now), linkedPerMinute: 600 },
      routes: [
        (r) => registerPublicRoutes(r, { gateway: { agent: 'uhCAkgateway', url: `http://${host}` }, offers: () => [], availableSlots: () => Promise.resolve(new Map()) }),
        (r) =>
          r.get('/v1/mine', (ctx) => {
            ctx.body = { agent: requireCustomer(ctx, `http://${host}`).agent };
          }),
      ],
    });
    const server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(PORT, gatewayAddress, resolve));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => {
      agent.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const ask = (method: string, path: string): Promise<Answer> =>
      new Promise((resolve, reject) => {
        const req = request({ host: gatewayAddress, port: PORT, family: 6, localAddress: caller, method, path, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], contentLength: res.headers['content-length'], text: Buffer.concat(chunks).toString('utf8'), reused: req.reusedSocket }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
    const whoami = async (): Promise<unknown> => {
      const a = await ask('GET', '/v1/whoami');
      assert.equal(a.status, 200);
      assert.equal(a.contentType, 'application/json; charset=utf-8');
      assert.equal(a.contentLength, String(Buffer.byteLength(a.text)));
      return JSON.parse(a.text);
    };

    linkTo(ALICE);
    const first = await ask('GET', '/v1/whoami');
    assert.equal(first.reused, false);
    assert.deepEqual(JSON.parse(first.text), { address: caller, subnet, linked: true, agent: ALICE, roles: ['customer'] });
    const second = await ask('GET', '/v1/whoami');
    assert.equal(second.reused, true, 'the second request goes on the same connection');
    assert.equal(second.text, first.text);
    const head = await ask('HEAD', '/v1/whoami');
    assert.deepEqual({ status: head.status, text: head.text, length: head.contentLength }, { status: 200, text: '', length: String(Buffer.byteLength(first.text)) }, 'HEAD: the length of the GET answer, no body');
    assert.equal((await ask('GET', '/v1/mine')).status, 200);

    links.delete(subnet);
    assert.deepEqual(await whoami(), { address: caller, subnet, linked: false, roles: [] }, 'unlinked: no stale identity on the same connection');
    const refused = await ask('GET', '/v1/mine');
    assert.equal(refused.status, 401, 'a customer route refuses at once after the unlink');
    assert.equal((JSON.parse(refused.text) as { error: { code: string } }).error.code, 'not_linked');

    linkTo(BOB);
    assert.deepEqual(await whoami(), { address: caller, subnet, linked: true, agent: BOB, roles: ['customer'] }, 'relinked to another identity: seen at once');
    assert.equal((JSON.parse((await ask('GET', '/v1/mine')).text) as { agent?: unknown }).agent, BOB);
    farmers.add(BOB);
    assert.deepEqual(await whoami(), { address: caller, subnet, linked: true, agent: BOB, roles: ['customer', 'farmer'] });
    farmers.delete(BOB);
    assert.deepEqual(await whoami(), { address: caller, subnet, linked: true, agent: BOB, roles: ['customer'] });
    const last = await ask('GET', '/v1/whoami');
    assert.equal(last.reused, true, 'every request above went on the one connection');
  });
}
