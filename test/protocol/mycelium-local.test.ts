// Finding this host's own /64s: from the local Mycelium API when it answers, else from the interfaces; and `hypha id sign` using it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { newIdentity, saveKeyFile, subnet64 } from '../../src/identity/index.js';
import { interfaceMyceliumAddresses, localMyceliumSubnets } from '../../src/protocol/mycelium-local.js';
import { linkStatementText } from '../../src/protocol/link-statement.js';
import { scratchDir } from '../helpers/paths.js';
import { hypha } from '../helpers/run.js';

/**
 * FakeMyceliumApi: answers GET /api/v1/admin as mycelium's local API does (threefoldtech/mycelium,
 * mycelium-api `Info`, serialised camelCase: {"nodeSubnet": "…::/64", "nodePubkey": "hex"}).
 */
async function startFakeMyceliumApi(nodeSubnet: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.url !== '/api/v1/admin') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ nodeSubnet, nodePubkey: '2fe57da347cd62431528daac5fbb290730fff684afc4cfc2ed90995f58cb3b74' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** A loopback URL where nothing listens: the API of a host without Mycelium. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

test('localMyceliumSubnets takes the API\'s nodeSubnet when it answers, else the interfaces\' 400::/7 /64s', async (t) => {
  const api = await startFakeMyceliumApi('05aa:0001:0002:0003::/64');
  t.after(() => api.server.close());
  assert.deepEqual(await localMyceliumSubnets(api.url), { subnets: ['5aa:1:2:3::/64'], source: 'mycelium-api' });
  const fallback = await localMyceliumSubnets(await deadUrl());
  assert.equal(fallback.source, 'interface');
  assert.deepEqual(fallback.subnets, [...new Set(interfaceMyceliumAddresses().map(subnet64))], 'the interfaces\' /64s, each once');
  const junk = await startFakeMyceliumApi('not a subnet');
  t.after(() => junk.server.close());
  assert.equal((await localMyceliumSubnets(junk.url)).source, 'interface', 'an unusable nodeSubnet falls back to the interfaces');
});

test('hypha id sign signs a link statement for the /64 the Mycelium API names, and refuses another', async (t) => {
  const api = await startFakeMyceliumApi('5aa:1:2:3::/64');
  t.after(() => api.server.close());
  const scratch = scratchDir();
  t.after(scratch.remove);
  const key = join(scratch.dir, 'me.key');
  const me = newIdentity();
  saveKeyFile(key, me, true);
  const statement = (subnet: string): string =>
    linkStatementText({ gateway: me.agent, gatewayAddress: '4a1::1', subnet, agent: me.agent, nonce: 'n', expires: '2030-01-01T00:00:00.000Z' });
  const own = await hypha(['id', 'sign', '--key', key, '--mycelium-api', api.url], { input: statement('5aa:1:2:3::/64') });
  assert.equal(own.code, 0, own.stderr);
  assert.match(own.stdout, /^[A-Za-z0-9+/]{86}==\n$/);
  const foreign = await hypha(['id', 'sign', '--key', key, '--mycelium-api', api.url], { input: statement('5bb:9:8:7::/64') });
  assert.equal(foreign.code, 2);
  assert.equal(foreign.stdout, '');
  assert.match(foreign.stderr, /links 5bb:9:8:7::\/64, which is not this machine's Mycelium \/64 \(5aa:1:2:3::\/64\)/);
});
