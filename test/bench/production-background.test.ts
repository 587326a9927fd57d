// bench/auth's lab at production background rates: the lab's compressed heartbeat, billing and order intervals removed, so the gateway's and agents' own defaults apply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from '../helpers/paths.js';
import { loadGatewayConfig } from '../../src/gateway/config.js';
import { loadAgentConfig } from '../../src/agent/config.js';
import { LAB_NODE_CAPACITY } from '../../src/lab/lab.js';
import { newIdentity } from '../../src/identity/index.js';
import type { LabState } from '../../src/lab/lab-state.js';
import { deletePath, productionBackground } from '../../bench/production-background.js';

/** The interval keys as `hypha lab up --hour 3600` writes them (src/lab/lab.ts writeGatewayConfig / writeAgentConfig: 100 ms heartbeats, 0.1 s billing tick, 0.2 s order check). */
function writeLabConfigs(dir: string): void {
  mkdirSync(join(dir, 'gateway'), { recursive: true });
  mkdirSync(join(dir, 'farmer1'), { recursive: true });
  const gateway = { heartbeatIntervalSeconds: 0.1, billing: { startupWaitSeconds: 5, tickSeconds: 0.1, farmerSharePercent: 90 }, orders: { checkIntervalSeconds: 0.2, expireAfterHours: 720 }, http: { unlinkedRequestsPerMinute: 300 } };
  writeFileSync(join(dir, 'gateway', 'config.json'), JSON.stringify(gateway), { mode: 0o600 });
  const agent = { gateway: 'http://[400::1]:8480', gatewayAgent: newIdentity().agent, keyFile: 'farmer1.key', stateDir: 'state', nodes: [{ id: 'node-farmer1', subnet: '400:1::/64', capacity: LAB_NODE_CAPACITY }], vmDriver: { kind: 'lab', node: 'node-farmer1' }, heartbeatIntervalSeconds: 0.1 };
  writeFileSync(join(dir, 'farmer1', 'agent.json'), JSON.stringify(agent), { mode: 0o600 });
}

/** A lab state with one farmer and one customer (only roles and names are read). */
function labState(dir: string): LabState {
  const actor = (name: string, role: 'farmer' | 'customer') => ({ name, role, address: '400::1', subnet: '400::/64', key: 'k', ns: name });
  return { v: 1, name: 'test', dir, hourSeconds: 3600, epochMs: 0, gateway: { address: '400::1', port: 8480, url: 'http://[400::1]:8480', pid: 1, agent: 'g' }, actors: [actor('farmer1', 'farmer'), actor('alice', 'customer')] };
}

test('productionBackground puts the lab gateway and its agents back on the production defaults, and applies the edit', (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  writeLabConfigs(dir);
  const gatewayPath = join(dir, 'gateway', 'config.json');
  const agentPath = join(dir, 'farmer1', 'agent.json');
  // As the lab writes them: every background interval compressed to a tenth of a second or so.
  const before = loadGatewayConfig(gatewayPath);
  assert.deepEqual([before.heartbeatIntervalMs, before.billing.tickRealMs, before.orders.checkIntervalRealMs, loadAgentConfig(agentPath).heartbeatIntervalMs], [100, 100, 200, 100]);

  const restart = productionBackground(dir, labState(dir), false, (config) => {
    config.http = { ...(config.http as Record<string, unknown>), linkedRequestsPerMinute: 10_000_000 };
  });
  assert.deepEqual(restart, ['farmer1'], 'the farmers must be restarted to read their config');
  const after = loadGatewayConfig(gatewayPath);
  assert.deepEqual([after.heartbeatIntervalMs, after.billing.tickRealMs, after.orders.checkIntervalRealMs, loadAgentConfig(agentPath).heartbeatIntervalMs], [15_000, 5_000, 10_000, 15_000]);
  // The rest of the config is kept, and the edit is applied.
  const raw = JSON.parse(readFileSync(gatewayPath, 'utf8')) as { billing: Record<string, unknown>; orders: Record<string, unknown>; http: Record<string, unknown> };
  assert.deepEqual(raw.billing, { startupWaitSeconds: 5, farmerSharePercent: 90 });
  assert.deepEqual(raw.orders, { expireAfterHours: 720 });
  assert.deepEqual(raw.http, { unlinkedRequestsPerMinute: 300, linkedRequestsPerMinute: 10_000_000 });
  assert.equal(statSync(gatewayPath).mode & 0o777, 0o600);
  assert.equal(statSync(agentPath).mode & 0o777, 0o600);
});

test('productionBackground with --lab-rates keeps the lab intervals and restarts no agent, but still applies the edit', (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  writeLabConfigs(dir);
  const restart = productionBackground(dir, labState(dir), true, (config) => {
    config.http = { linkedRequestsPerMinute: 7 };
  });
  assert.deepEqual(restart, []);
  const c = loadGatewayConfig(join(dir, 'gateway', 'config.json'));
  assert.deepEqual([c.heartbeatIntervalMs, c.billing.tickRealMs, c.orders.checkIntervalRealMs, c.http.linkedRequestsPerMinute], [100, 100, 200, 7]);
  assert.equal(loadAgentConfig(join(dir, 'farmer1', 'agent.json')).heartbeatIntervalMs, 100);
});

test('deletePath removes a nested key only where the path leads through objects', () => {
  const o: Record<string, unknown> = { a: { b: 1, c: 2 }, d: [1], e: 3 };
  assert.equal(deletePath(o, ['a', 'b']), true);
  assert.equal(deletePath(o, ['a', 'x']), false);
  assert.equal(deletePath(o, ['d', '0']), false);
  assert.equal(deletePath(o, ['e', 'f']), false);
  assert.equal(deletePath(o, []), false);
  assert.deepEqual(o, { a: { c: 2 }, d: [1], e: 3 });
});
