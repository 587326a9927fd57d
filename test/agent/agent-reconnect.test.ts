// Agent.start against a gateway endpoint that resets or abandons the connection mid-handshake: the agent keeps reconnecting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseAgentConfig } from '../../src/agent/config.js';
import { newIdentity, saveKeyFile } from '../../src/identity/index.js';
import { waitFor } from '../helpers/lab.js';
import { scratchDir } from '../helpers/paths.js';
import { FakeGatewayEndpoint, type Ending } from './fake-gateway-endpoint.js';

async function agentAgainst(t: import('node:test').TestContext, script: Ending[]): Promise<FakeGatewayEndpoint> {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const endpoint = new FakeGatewayEndpoint(script);
  const url = await endpoint.listen();
  t.after(() => endpoint.close());
  saveKeyFile(join(dir, 'agent.key'), newIdentity());
  const config = parseAgentConfig({ gateway: url, keyFile: 'agent.key', stateDir: 'state', nodes: [{ id: 'node-1' }], reconnect: { minSeconds: 0.01, maxSeconds: 0.05 } }, dir);
  const agent = await Agent.start(config, pino({ enabled: false }));
  t.after(() => agent.close());
  return endpoint;
}

test('an agent whose connection is reset mid-handshake reconnects, after each kind of reset', async (t) => {
  const endpoint = await agentAgainst(t, ['reset-on-request', 'reset-after-open', 'reset-after-hello', 'reset-on-request', 'reset-after-hello']);
  await waitFor('the agent to be welcomed after five resets', () => (endpoint.attempts.length >= 6 && endpoint.messages('heartbeat').length > 0 ? true : undefined), 30_000, 20);
  assert.deepEqual(endpoint.attempts.slice(0, 6), ['reset-on-request', 'reset-after-open', 'reset-after-hello', 'reset-on-request', 'reset-after-hello', 'welcome']);
  assert.equal(endpoint.messages('hello').length, 3, 'a hello on each attempt that got a challenge');
});

test('an agent whose gateway goes silent mid-handshake gives up on that connection and connects again', async (t) => {
  const endpoint = await agentAgainst(t, ['silent-after-open']);
  // The wait is the agent's own welcome timeout (15 s) plus slack for a loaded machine; no duration is asserted.
  await waitFor('a second connection attempt', () => (endpoint.attempts.length >= 2 ? true : undefined), 60_000, 50);
  assert.deepEqual(endpoint.attempts.slice(0, 2), ['silent-after-open', 'welcome']);
});
