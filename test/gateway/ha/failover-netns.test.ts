// Two real gateways sharing a lease on a real PostgreSQL server, at two Mycelium addresses in a private namespace: one active, the standby answers 503 with the active URL, and takes over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import pino from 'pino';
import { Gateway } from '../../../src/gateway/gateway.js';
import { parseGatewayConfig } from '../../../src/gateway/config.js';
import { waitFor } from '../../helpers/lab.js';
import { scratchDir } from '../../helpers/paths.js';
import { addLoopbackAddresses } from '../../helpers/private-netns.js';
import { inPrivateNamespace } from '../../helpers/namespaced-test-file.js';
import { startTestPostgres } from '../../helpers/postgres.js';
import { jsonRequest, rawRequest } from '../../helpers/source-http.js';
import { subnet64 } from '../../../src/identity/mycelium-address.js';

/** The one sample line of `name` in an exposition text, as a number (undefined when absent). */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

const NAME = 'active and standby gateways on a real lease';

if (inPrivateNamespace({ name: NAME, moduleUrl: import.meta.url, tests: 1, timeoutMs: 240_000 })) {
  test(NAME, async (t) => {
    const server = await startTestPostgres(t);
    const [addrA, addrB, customer, adminAddr] = (await addLoopbackAddresses(4)) as [string, string, string, string];
    const { dir, remove } = scratchDir('hypha-ha-');
    t.after(() => remove());
    const log = pino({ level: 'warn' }, pino.destination({ dest: join(dir, 'gateways.log'), sync: true }));
    const configOf = (name: string, address: string) =>
      parseGatewayConfig(
        {
          listen: address,
          port: 8480,
          dataDir: join(dir, name),
          // One database for both: the PostgreSQL store, and the lease in it. One gateway key for both (agents pin it).
          store: { kind: 'postgres', url: server.url },
          keyFile: join(dir, 'gateway.key'),
          probes: { enabled: false },
          admins: [subnet64(adminAddr)],
          provisioner: { kind: 'agent', commandTimeoutSeconds: 5 },
          ha: { takeoverSeconds: 3, onActiveCommand: ['/bin/sh', '-c', `echo "$HYPHA_ROLE $HYPHA_ACTIVE_URL" >> ${join(dir, `${name}-hooks.txt`)}`] },
        },
        dir,
      );
    // Each gateway's lease worker thread as Node announces it (a's first, then b's): b's is killed at the end.
    const workers: Worker[] = [];
    const onWorker = (w: Worker): number => workers.push(w);
    process.on('worker', onWorker);
    t.after(() => process.off('worker', onWorker));
    const a = await Gateway.start(configOf('a', addrA), log);
    let aClosed = false;
    t.after(() => (aClosed ? undefined : a.close()));
    const b = await Gateway.start(configOf('b', addrB), log);
    t.after(() => b.close());
    const urlA = `http://[${addrA}]:8480`;
    assert.equal(a.status().role, 'active');
    assert.equal(b.status().role, 'standby');
    assert.equal(b.status().activeUrl, urlA);

    // A customer at the standby: 503, the error and the active URL in the body, and a Location to the same path there.
    const atB = { host: addrB, port: 8480 };
    const offers = await jsonRequest(atB, customer, 'GET', '/v1/offers');
    assert.equal(offers.status, 503);
    assert.deepEqual({ ...(offers.json as { error: object }).error, message: undefined }, { code: 'standby', active: urlA, message: undefined });
    const raw = await rawRequest(atB, customer, Buffer.from(`GET /v1/offers HTTP/1.1\r\nHost: [${addrB}]:8480\r\nConnection: close\r\n\r\n`));
    assert.match(raw.head, new RegExp(`\\r\\nlocation: ${urlA.replace(/[[\]]/g, '\\$&')}/v1/offers\\r\\n`, 'i'));
    const admin = await jsonRequest(atB, customer, 'GET', '/admin');
    assert.equal(admin.status, 503);
    assert.match(admin.text, new RegExp(`^standby: active gateway ${urlA.replace(/[[\]]/g, '\\$&')}; lease database reachable`));
    // An agent's upgrade at the standby: refused with 503 and the active URL, which the agent tries next.
    const upgrade = await rawRequest(atB, customer, Buffer.from(`GET /v1/agent HTTP/1.1\r\nHost: [${addrB}]:8480\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`));
    assert.equal(upgrade.status, 503);
    assert.ok(upgrade.head.includes(`"active":"${urlA}"`), upgrade.head);
    // The active one serves.
    assert.equal((await jsonRequest({ host: addrA, port: 8480 }, customer, 'GET', '/v1/offers')).status, 200);
    // Prometheus from the admin /64: the standby scrapes as up and not active, the active one as active; a customer's scrape of the standby stays 503.
    const scrapeB = await jsonRequest(atB, adminAddr, 'GET', '/metrics');
    assert.equal(scrapeB.status, 200, scrapeB.text);
    assert.deepEqual([sample(scrapeB.text, 'hypha_ha_active'), sample(scrapeB.text, 'hypha_ha_lease_database_up')], [0, 1]);
    const scrapeA = await jsonRequest({ host: addrA, port: 8480 }, adminAddr, 'GET', '/metrics');
    assert.equal(scrapeA.status, 200, scrapeA.text);
    assert.deepEqual([sample(scrapeA.text, 'hypha_ha_active'), sample(scrapeA.text, 'hypha_ha_lease_database_up')], [1, 1]);
    assert.equal((await jsonRequest(atB, customer, 'GET', '/metrics')).status, 503);

    // State written by the active one, through its fenced store.
    const approval = { agent: a.identity.agent, state: 'approved' as const, source: 'config' as const, subnets: [], nodes: ['node-ha'], decidedAtMs: 1 };
    await a.parts.store.agents.put('farmer-ha', approval);
    assert.throws(() => b.parts, /standby/, 'a standby has no parts to write with');

    // The active one stops (it gives the lease up on the way out): the standby takes over, reloads the state, and serves.
    await a.close();
    aClosed = true;
    await waitFor('b to become active', () => (b.status().role === 'active' ? true : undefined), 15_000);
    await waitFor('b to serve offers', async () => ((await jsonRequest(atB, customer, 'GET', '/v1/offers')).status === 200 ? true : undefined), 15_000);
    assert.equal(b.status().activeUrl, `http://[${addrB}]:8480`);
    assert.equal(sample((await jsonRequest(atB, adminAddr, 'GET', '/metrics')).text, 'hypha_ha_active'), 1, 'the new active one scrapes as active');
    assert.deepEqual(b.parts.store.agents.get('farmer-ha'), approval, 'the new active gateway reloaded what the old one wrote');
    assert.equal(b.identity.agent, a.identity.agent, 'one gateway key');
    const { readFileSync } = await import('node:fs');
    await waitFor('the onActive hook of b', () => (readFileSync(join(dir, 'b-hooks.txt'), 'utf8').includes(`active http://[${addrB}]:8480`) ? true : undefined), 10_000);

    // b's lease worker dies: b stands down at once (every active part closed, the standby server answers), then a new worker takes the lease again under a new term.
    assert.equal(workers.length, 2, 'one lease worker per gateway');
    await workers[1]?.terminate();
    await waitFor('b to stand down without its lease worker', () => (b.status().role === 'standby' ? true : undefined), 10_000);
    // Its standby server starts once every active part is closed (connections refused for that moment).
    const refused = await waitFor('b\'s standby server', () => jsonRequest(atB, customer, 'GET', '/v1/offers').catch(() => undefined), 10_000);
    assert.equal(refused.status, 503, 'a gateway without its lease worker serves nothing');
    assert.equal((refused.json as { error?: { code?: string } }).error?.code, 'standby');
    await waitFor('b to be active again with a new lease worker', async () => ((await jsonRequest(atB, customer, 'GET', '/v1/offers')).status === 200 ? true : undefined), 20_000);
    assert.equal(workers.length, 3, 'a new worker was started');
    assert.deepEqual(b.parts.store.agents.get('farmer-ha'), approval, 'state reloaded in the new term');
  });
}
