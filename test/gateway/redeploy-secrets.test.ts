// Redeploy of an agent-run VM whose order has sealed secrets: the secrets go only to a node they are sealed to (and open there), and a VM whose secrets open only on the dead node is not moved, with the reason told once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { RedeployService } from '../../src/gateway/redeploy/redeploy-service.js';
import { AgentProvisioner } from '../../src/gateway/provision/agent-provisioner.js';
import { parseOrderTerms } from '../../src/gateway/orders/order-terms.js';
import { deploymentView } from '../../src/gateway/deployments/deployment-service.js';
import { UptimeBook } from '../../src/gateway/uptime/uptime-book.js';
import type { DeploymentRecord, OrderSecret } from '../../src/gateway/store/records.js';
import { fromBase64, newIdentity, toBase64, type Identity } from '../../src/identity/index.js';
import { openSealed, seal } from '../../src/identity/sealed-box.js';
import type { CommandOp, ResultMessage } from '../../src/protocol/agent-messages.js';
import type { Offer } from '../../src/protocol/offer.js';
import type { SealedSecret } from '../../src/protocol/sealed-secret.js';
import { ValidationError } from '../../src/protocol/validate.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { FakeTable } from '../helpers/fake-table.js';

const MIN = 60_000;
const INTERVAL_MS = 15_000;
const SMALL: Offer = { id: 'small', cpu: 1, memoryGb: 2, diskGb: 25, pricePerHourMicros: 50_000n, unit: 'SPORE' };
const KEYS = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJwNGHzv2uT5UPGIxiHH7zW9K70Vt2MzQ53aJjDn2BQF alice@laptop'];
const PASSWORD = 'correct horse battery staple';

/** Three nodes, each its own farmer agent; n2 has the most room, so it is picked first when it may be. */
const farmers: Record<string, Identity> = { n1: newIdentity(), n2: newIdentity(), n3: newIdentity() };
const ROOM: Record<string, number> = { n1: 4, n2: 8, n3: 2 };

/** The order's one secret, sealed (for real) to the agents of `nodes`. */
function sealedTo(nodes: readonly string[]): OrderSecret[] {
  const sealed: Record<string, string> = {};
  for (const n of nodes) sealed[n] = toBase64(seal((farmers[n] as Identity).agent, new TextEncoder().encode(PASSWORD)));
  return [{ name: 'db-password', sealed }];
}

/**
 * The hub's command port as AgentProvisioner uses it (shaped from src/gateway/agents/agent-hub.ts
 * `command`), answered as each node's agent would (src/agent/agent.ts openSecrets): a deploy opens
 * every box with that node's key, and fails as the agent does when one will not open.
 */
class FakeAgentCommands {
  readonly deploys: { node: string; id: string; opened: string[] }[] = [];
  readonly up = new Set(['n1', 'n2', 'n3']);
  command(node: string, op: CommandOp, vm: { id: string; secrets?: readonly SealedSecret[] }): Promise<ResultMessage> {
    if (op !== 'deploy') return Promise.resolve({ type: 'result', id: vm.id, ok: true });
    const opened = (vm.secrets ?? []).map((s) => new TextDecoder().decode(openSealed(farmers[node] as Identity, fromBase64('box', s.box))));
    this.deploys.push({ node, id: vm.id, opened });
    return Promise.resolve({ type: 'result', id: vm.id, ok: true, vm: { id: vm.id, myceliumIp: `5${node.slice(1)}f::1`, state: 'running' } });
  }
}

interface World {
  readonly clock: FakeClock;
  readonly table: FakeTable<DeploymentRecord>;
  readonly events: FakeEventSink;
  readonly agents: FakeAgentCommands;
  readonly service: RedeployService;
  /** Both witnesses (the agent's reports and the gateway's probes) say `up` every interval until `untilMs`. */
  witness(up: boolean, untilMs: number): void;
}

function world(secrets: readonly OrderSecret[]): World {
  const clock = new FakeClock();
  const uptime = new UptimeBook(INTERVAL_MS, 3_600_000);
  const table = new FakeTable<DeploymentRecord>();
  const events = new FakeEventSink();
  const agents = new FakeAgentCommands();
  const provisioner = new AgentProvisioner({
    nodes: () => Object.keys(farmers).map((id) => ({ id, farmer: (farmers[id] as Identity).agent, connected: agents.up.has(id), up: agents.up.has(id), capacity: { cpu: ROOM[id] as number, memoryGb: 64, diskGb: 1000 } })),
    usedOn: () => ({ cpu: 0, memoryGb: 0, diskGb: 0 }),
    command: (node, op, vm) => agents.command(node, op, vm),
    commandTimeoutMs: 1000,
  });
  const service = new RedeployService({
    clock,
    deployments: table,
    provisioner,
    events,
    log: pino({ level: 'silent' }),
    policy: { afterMs: 30 * MIN, maxPerDay: 3 },
    probesEnabled: true,
    uptime,
    hasAgent: () => true,
    offerOf: () => SMALL,
    secretsOf: (d) => (d.order === 'ord_1' ? secrets : undefined),
    onPlacementChanged: () => undefined,
  });
  let lastMs = clock.nowMs() - INTERVAL_MS;
  return {
    clock,
    table,
    events,
    agents,
    service,
    witness(up, untilMs) {
      for (let t = lastMs + INTERVAL_MS; t <= untilMs; t += INTERVAL_MS) {
        uptime.record('vm:dep_1', { atMs: t, up });
        uptime.record('probe:dep_1', { atMs: t, up });
        lastMs = t;
      }
    },
  };
}

/** An active redeploy VM on n1, as the order service stores it. */
async function onNode1(w: World): Promise<DeploymentRecord> {
  const d: DeploymentRecord = {
    id: 'dep_1', order: 'ord_1', customer: 'alice', offer: 'small', name: 'vm-1', pricePerHour: '0.050000', unit: 'SPORE', sshKeys: KEYS,
    provisioner: 'agent', node: 'n1', farmer: (farmers.n1 as Identity).agent, myceliumIp: '51f::1', vmRef: {}, state: 'active',
    createdAtMs: w.clock.nowMs(), activatedAtMs: w.clock.nowMs(), redeploy: true,
  };
  await w.table.put(d.id, d);
  return d;
}

/** n1 up for 10 min, then dead (its agent gone, the probes failing) until +`deadUntilMin`, a round after each step. */
async function n1Dies(w: World, deadUntilMin: number): Promise<void> {
  const start = w.clock.nowMs();
  w.witness(true, start + 10 * MIN);
  w.clock.set(start + 10 * MIN);
  await w.service.round();
  w.agents.up.delete('n1');
  for (let m = 20; m <= deadUntilMin; m += 10) {
    w.clock.set(start + m * MIN);
    w.witness(false, w.clock.nowMs());
    await w.service.round();
  }
}

test('secrets sealed to n1 and n3: when n1 dies the VM moves to n3 (not to n2, which has more room), and n3 opens them', async () => {
  const w = world(sealedTo(['n1', 'n3']));
  await onNode1(w);
  await n1Dies(w, 50);
  const moved = w.table.get('dep_1') as DeploymentRecord;
  assert.equal(moved.node, 'n3');
  assert.deepEqual(w.agents.deploys.map((x) => x.node), ['n3'], 'one deploy, on the only other node the secret is sealed to');
  assert.deepEqual(w.agents.deploys[0]?.opened, [PASSWORD], "n3's agent opened the box sealed to it");
  const event = w.events.events.find((e) => e.event === 'deployment.redeployed');
  assert.match(event?.detail ?? '', /the 1 secret\(s\) you sealed to n3/);
});

test('secrets sealed to n1 only: the VM is not moved; the customer is told why once; the refusal clears when n1 is back', async () => {
  const w = world(sealedTo(['n1']));
  await onNode1(w);
  await n1Dies(w, 90);
  assert.deepEqual(w.agents.deploys, [], 'nothing was deployed anywhere: no other node could open the secret');
  const d = w.table.get('dep_1') as DeploymentRecord;
  assert.equal(d.node, 'n1');
  assert.match(d.redeployRefused ?? '', /sealed only to n1.*cannot seal them to another node/);
  assert.equal(d.redeployAttemptsMs, undefined, 'a refusal is not an attempt: it does not use up the day');
  const refused = w.events.events.filter((e) => e.event === 'deployment.redeploy_refused');
  assert.equal(refused.length, 1, 'told once, not every round');
  assert.match(refused[0]?.detail ?? '', /waits for its node.*sealed to several nodes/);
  assert.equal(w.events.events.filter((e) => e.event === 'deployment.redeploy_failed').length, 0);
  assert.match(deploymentView(d, { upSeconds: 0, chargedMicros: 0n, arrearsMicros: 0n }).redeploy?.refused ?? '', /sealed only to n1/, 'the deployment view says why');
  w.agents.up.add('n1');
  w.witness(true, w.clock.nowMs() + INTERVAL_MS);
  w.clock.advance(INTERVAL_MS);
  await w.service.round();
  assert.equal(w.table.get('dep_1')?.redeployRefused, undefined, 'the VM is up again: its next death is judged afresh');
});

test('secrets sealed to n1 and n2, n2 down too: a failed attempt that names the nodes the secrets are sealed to', async () => {
  const w = world(sealedTo(['n1', 'n2']));
  w.agents.up.delete('n2');
  await onNode1(w);
  await n1Dies(w, 50);
  assert.deepEqual(w.agents.deploys, []);
  const failed = w.events.events.find((e) => e.event === 'deployment.redeploy_failed');
  assert.match(failed?.detail ?? '', /none of the other nodes your secrets are sealed to \(n2\) has room/);
});

test('an order asking for redeploy with secrets sealed to one node is refused, naming redeploy; sealed to two, it is taken', () => {
  const body = (nodes: string[]): Record<string, unknown> => ({ sshKeys: KEYS, redeploy: true, secrets: sealedTo(nodes) });
  assert.throws(() => parseOrderTerms(body(['n1']), 16_384, 'agent'), (e: unknown) => e instanceof ValidationError && e.field === 'redeploy' && /at least two nodes.*share only n1/.test(e.message));
  assert.equal(parseOrderTerms(body(['n1', 'n3']), 16_384, 'agent').redeploy, true);
  assert.equal(parseOrderTerms({ sshKeys: KEYS, secrets: sealedTo(['n1']) }, 16_384, 'agent').redeploy, undefined, 'without redeploy, one node is fine');
});
