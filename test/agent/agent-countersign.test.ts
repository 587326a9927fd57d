// Agent countersigning against a fake gateway endpoint: a VM assigned mid-period is judged on the agent's samples; a restart is a gap.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseAgentConfig } from '../../src/agent/config.js';
import { newIdentity, saveKeyFile, type Identity } from '../../src/identity/index.js';
import type { Receipt } from '../../src/protocol/index.js';
import { waitFor } from '../helpers/lab.js';
import { scratchDir } from '../helpers/paths.js';
import { v1Receipt } from '../helpers/receipts.js';
import { FAKE_INTERVAL_MS, FakeGatewayEndpoint } from './fake-gateway-endpoint.js';

const VM = 'dep_countersign1';

/** A port on [::1] nobody listens on: the agent's probes of the VM find it unreachable, so its record is 0 s up. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A receipt for [startMs, endMs) with 0 s up, signed by the fake gateway, for the agent `farmer`. */
function zeroReceipt(gateway: Identity, farmer: string, startMs: number, endMs: number): Receipt {
  return v1Receipt({ deployment: VM, startMs, periodMs: endMs - startMs, upSeconds: 0, farmer: { agent: farmer }, gateway, customer: newIdentity().agent, withHead: false }, gateway);
}

/** Starts an agent against a fake gateway, assigns it the VM once it has heartbeated a while, and waits for its first sample of it. */
async function agentWithVmAssignedLate(t: TestContext): Promise<{ endpoint: FakeGatewayEndpoint; farmer: Identity; startedAtMs: number; firstSampleMs: number }> {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const endpoint = new FakeGatewayEndpoint();
  const url = await endpoint.listen();
  t.after(() => endpoint.close());
  const farmer = newIdentity();
  saveKeyFile(join(dir, 'agent.key'), farmer);
  const config = parseAgentConfig({ gateway: url, keyFile: 'agent.key', stateDir: 'state', nodes: [{ id: 'node-1' }], heartbeatIntervalSeconds: FAKE_INTERVAL_MS / 1000, reconnect: { minSeconds: 0.01, maxSeconds: 0.05 } }, dir);
  const agent = await Agent.start(config, pino({ enabled: false }));
  // Taken after the start: the agent's own start time is no later than this.
  const startedAtMs = Date.now();
  t.after(() => agent.close());
  await waitFor('a few heartbeats', () => (endpoint.messages('heartbeat').length >= 3 ? true : undefined), 30_000, 20);
  endpoint.send({ type: 'vms', vms: [{ id: VM, node: 'node-1', myceliumIp: '::1', port: await closedPort() }] });
  const first = await waitFor('a heartbeat reporting the VM', () => endpoint.messages('heartbeat').find((m) => (m.vms as Array<{ id: string }>).some((v) => v.id === VM)), 30_000, 20);
  await waitFor('a later heartbeat (the first sample is credited up to it)', () => (endpoint.messages('heartbeat').some((m) => (m.atMs as number) > (first.atMs as number)) ? true : undefined), 30_000, 20);
  return { endpoint, farmer, startedAtMs, firstSampleMs: first.atMs as number };
}

test('a VM assigned mid-period: its first receipt, starting more than an interval before the agent first probed it, is countersigned', async (t) => {
  const { endpoint, farmer, startedAtMs, firstSampleMs } = await agentWithVmAssignedLate(t);
  // The gateway's first receipt of a VM starts at the deployment; the agent probes it from its next heartbeat after the assignment.
  const periodStart = Math.min(startedAtMs + 1, firstSampleMs - 2 * FAKE_INTERVAL_MS);
  assert.ok(periodStart >= startedAtMs && firstSampleMs > periodStart + FAKE_INTERVAL_MS, 'the case under test: the agent ran before the period, and probed the VM late');
  const receipt = zeroReceipt(endpoint.identity, farmer.agent, periodStart, firstSampleMs + FAKE_INTERVAL_MS);
  endpoint.send({ type: 'countersign', receipt });
  const answer = await waitFor('the agent\'s answer', () => endpoint.received.find((m) => (m.type === 'countersigned' || m.type === 'countersign-refused') && m.receiptId === receipt.id), 30_000, 20);
  assert.equal(answer.type, 'countersigned', `an honest agent signs the receipt that matches its record: ${JSON.stringify(answer)}`);
});

test('a receipt for a period that began before the agent (re)started is refused: its record has a gap', async (t) => {
  const { endpoint, farmer, startedAtMs, firstSampleMs } = await agentWithVmAssignedLate(t);
  const receipt = zeroReceipt(endpoint.identity, farmer.agent, startedAtMs - 60_000, firstSampleMs + FAKE_INTERVAL_MS);
  endpoint.send({ type: 'countersign', receipt });
  const answer = await waitFor('the agent\'s answer', () => endpoint.received.find((m) => (m.type === 'countersigned' || m.type === 'countersign-refused') && m.receiptId === receipt.id), 30_000, 20);
  assert.equal(answer.type, 'countersign-refused');
  assert.match(String(answer.reason), /no record of dep_countersign1 for the whole period/);
});
