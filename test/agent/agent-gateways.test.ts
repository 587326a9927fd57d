// An agent with a list of gateways: a standby's 503 names the active one and the agent goes straight there; the config takes one gateway or a list, not both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseAgentConfig } from '../../src/agent/config.js';
import { standbyHandler } from '../../src/gateway/ha/standby-server.js';
import { newIdentity, saveKeyFile } from '../../src/identity/index.js';
import { ValidationError } from '../../src/protocol/validate.js';
import { waitFor } from '../helpers/lab.js';
import { scratchDir } from '../helpers/paths.js';
import { FakeGatewayEndpoint } from './fake-gateway-endpoint.js';

async function listenLocal(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
  return `http://[::1]:${(server.address() as AddressInfo).port}`;
}

test("a standby's refusal sends the agent to the active gateway it names, skipping the others in the list", async (t) => {
  const active = new FakeGatewayEndpoint();
  const activeUrl = await active.listen();
  t.after(() => active.close());
  // The real standby handler of the gateway (src/gateway/ha/standby-server.ts), naming the active one.
  const handler = standbyHandler({ activeUrl: () => activeUrl, outage: () => null }, []);
  let standbyUpgrades = 0;
  const standby = createServer((req, res) => handler.request(req, res));
  standby.on('upgrade', (req, socket) => {
    standbyUpgrades++;
    handler.upgrade(req, socket);
  });
  const standbyUrl = await listenLocal(standby);
  t.after(() => standby.close());
  // Another gateway in the list, which the agent must not need to try.
  let otherAttempts = 0;
  const other = createServer();
  other.on('upgrade', (_req, socket) => {
    otherAttempts++;
    socket.destroy();
  });
  const otherUrl = await listenLocal(other);
  t.after(() => other.close());

  const { dir, remove } = scratchDir();
  t.after(remove);
  saveKeyFile(join(dir, 'agent.key'), newIdentity());
  const config = parseAgentConfig({ gateways: [standbyUrl, otherUrl, activeUrl], keyFile: 'agent.key', stateDir: 'state', nodes: [{ id: 'node-1' }], reconnect: { minSeconds: 0.01, maxSeconds: 0.05 } }, dir);
  assert.equal(config.gateway, standbyUrl, 'gateway stays the first of the list');
  const agent = await Agent.start(config, pino({ enabled: false }));
  t.after(() => agent.close());
  await waitFor('the agent to be welcomed by the active gateway', () => (active.messages('heartbeat').length > 0 ? true : undefined), 20_000, 20);
  assert.equal(standbyUpgrades, 1, 'the standby was asked once');
  assert.equal(otherAttempts, 0, 'the agent followed the named active gateway, not the next in the list');
});

test('agent config: "gateway" or "gateways", not both, not neither; duplicates collapse', () => {
  const base = { keyFile: 'k', nodes: [{ id: 'n' }] };
  const a = 'http://[400::1]:8480';
  const b = 'http://[400::2]:8480';
  assert.deepEqual(parseAgentConfig({ ...base, gateway: a }, '/tmp').gateways, [a]);
  assert.deepEqual(parseAgentConfig({ ...base, gateways: [a, b, `${a}/`] }, '/tmp').gateways, [a, b]);
  assert.throws(() => parseAgentConfig({ ...base, gateway: a, gateways: [b] }, '/tmp'), (e: unknown) => e instanceof ValidationError && /config\.gateways/.test(e.message));
  assert.throws(() => parseAgentConfig(base, '/tmp'), (e: unknown) => e instanceof ValidationError && /config\.gateway/.test(e.message));
  assert.throws(() => parseAgentConfig({ ...base, gateways: ['http://10.0.0.1:8480'] }, '/tmp'), (e: unknown) => e instanceof ValidationError && /config\.gateways\[0\]/.test(e.message));
});
