// RedeployService through the Provisioner port with the real GridProvisioner and a FakeGridClient, on a fake clock: a grid VM whose probes fail moves after the threshold, at most N times a day, never when redeploy is off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { RedeployService } from '../../src/gateway/redeploy/redeploy-service.js';
import { UptimeBook } from '../../src/gateway/uptime/uptime-book.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';
import type { Offer } from '../../src/protocol/offer.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { FakeTable } from '../helpers/fake-table.js';
import { FakeGridClient, FARMER_1, harness, type Harness } from '../helpers/fake-grid.js';

const MIN = 60_000;
const INTERVAL_MS = 15_000;
const SMALL: Offer = { id: 'small', cpu: 1, memoryGb: 2, diskGb: 25, pricePerHourMicros: 50_000n, unit: 'SPORE' };
const KEYS = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHhyphaTestKeyxxxxxxxxxxxxxxxxxxxxxxxxxxxx alice@laptop'];

interface World {
  readonly h: Harness;
  readonly clock: FakeClock;
  readonly uptime: UptimeBook;
  readonly table: FakeTable<DeploymentRecord>;
  readonly events: FakeEventSink;
  readonly service: RedeployService;
  /** Probes of the VM every interval from `fromMs` until now (a grid VM: the probes are its evidence). */
  probe(id: string, up: boolean, untilMs: number): void;
}

async function world(maxPerDay = 3, hooks: ConstructorParameters<typeof FakeGridClient>[1] = {}): Promise<World> {
  const h = await harness(hooks);
  const clock = new FakeClock();
  const uptime = new UptimeBook(INTERVAL_MS, 3_600_000);
  const table = new FakeTable<DeploymentRecord>();
  const events = new FakeEventSink();
  const service = new RedeployService({
    clock,
    deployments: table,
    provisioner: h.provisioner,
    events,
    log: pino({ level: 'silent' }),
    policy: { afterMs: 30 * MIN, maxPerDay },
    probesEnabled: true,
    uptime,
    hasAgent: () => false,
    offerOf: () => SMALL,
    secretsOf: () => undefined,
    onPlacementChanged: () => undefined,
  });
  let lastProbeMs = clock.nowMs() - INTERVAL_MS;
  return {
    h,
    clock,
    uptime,
    table,
    events,
    service,
    probe(id, up, untilMs) {
      for (let t = lastProbeMs + INTERVAL_MS; t <= untilMs; t += INTERVAL_MS) {
        uptime.record(`vm:${id}`, { atMs: t, up });
        lastProbeMs = t;
      }
    },
  };
}

/** A grid VM deployed on node 11 through the provisioner, as the order service stores it. */
async function gridDeployment(w: World, redeploy: boolean): Promise<DeploymentRecord> {
  const vm = await w.h.provisioner.deploy({ deploymentId: 'dep_1', name: 'vm1', offer: SMALL, sshKeys: KEYS, node: '11' });
  const d: DeploymentRecord = {
    id: 'dep_1', order: 'ord_1', customer: 'alice', offer: 'small', name: 'vm-1', pricePerHour: '0.050000', unit: 'SPORE', sshKeys: KEYS,
    provisioner: 'grid', node: '11', farmer: FARMER_1, myceliumIp: vm.myceliumIp, vmRef: vm.ref, state: 'active',
    createdAtMs: w.clock.nowMs(), activatedAtMs: w.clock.nowMs(), ...(redeploy ? { redeploy: true } : {}),
  };
  await w.table.put(d.id, d);
  return d;
}

test('a grid VM whose probes fail is deployed again on another node after the threshold, the old one deleted', async () => {
  const w = await world();
  try {
    const d = await gridDeployment(w, true);
    const start = w.clock.nowMs();
    w.probe(d.id, true, start + 10 * MIN);
    w.clock.set(start + 10 * MIN);
    await w.service.round();
    // The node dies just after +10 min: probes fail from then on.
    w.clock.set(start + 39 * MIN);
    w.probe(d.id, false, w.clock.nowMs());
    await w.service.round();
    assert.equal(w.table.get(d.id)?.node, '11', 'not yet: down 29 min');
    w.clock.set(start + 41 * MIN);
    w.probe(d.id, false, w.clock.nowMs());
    await w.service.round();
    const moved = w.table.get(d.id) as DeploymentRecord;
    assert.equal(moved.node, '12', 'the next node with room, not the dead one');
    assert.notEqual(moved.myceliumIp, d.myceliumIp);
    assert.match(moved.vmId ?? '', /^dep_1-r[0-9a-f]{6}$/);
    assert.deepEqual(moved.sshKeys, KEYS);
    assert.equal(moved.previousVms?.[0]?.node, '11');
    const client = w.h.clients[0] as FakeGridClient;
    assert.deepEqual(client.deployed.map((m) => m.machines[0]?.node_id), [11, 12]);
    assert.ok(w.events.names().includes('deployment.redeployed'));
    // The grid deletes a contract whatever its node does: the old VM goes at the next round.
    await w.service.round();
    assert.ok(client.deleted.includes('vm1'), `deleted: ${client.deleted.join(', ')}`);
    assert.equal(w.table.get(d.id)?.previousVms?.[0]?.destroyed, true);
    assert.ok(w.events.names().includes('deployment.previous_vm_destroyed'));
  } finally {
    await w.h.done();
  }
});

test('with redeploy off, or paused in grace, nothing moves however long the node is down', async () => {
  const w = await world();
  try {
    const d = await gridDeployment(w, false);
    w.clock.advance(5 * 60 * MIN);
    w.probe(d.id, false, w.clock.nowMs());
    await w.service.round();
    assert.equal(w.table.get(d.id)?.node, '11');
    await w.table.put(d.id, { ...d, redeploy: true, state: 'grace', paused: true });
    await w.service.round();
    assert.equal(w.table.get(d.id)?.node, '11');
    assert.deepEqual(w.events.names(), []);
    assert.equal((w.h.clients[0] as FakeGridClient).deployed.length, 1);
  } finally {
    await w.h.done();
  }
});

test('no redeploy loop: after maxPerDay failed attempts the deployment waits, with the time of the next attempt', async () => {
  const w = await world(2, { deploy: () => Promise.reject(Object.assign(new Error('GridClientError: node is full'), { module: 'grid_client', code: 1 })) });
  try {
    // Every deploy on this grid fails; the deployment is stored as if node 11 had taken it earlier.
    const vmRef = { name: 'vm1' };
    const start = w.clock.nowMs();
    await w.table.put('dep_1', {
      id: 'dep_1', order: 'ord_1', customer: 'alice', offer: 'small', name: 'vm-1', pricePerHour: '0.050000', unit: 'SPORE', sshKeys: KEYS,
      provisioner: 'grid', node: '11', farmer: FARMER_1, myceliumIp: '570:75b1:b695:5ed7:ff0f:0:2:1', vmRef, state: 'active', createdAtMs: start, activatedAtMs: start, redeploy: true,
    });
    for (const minutes of [31, 32, 33, 34]) {
      w.clock.set(start + minutes * MIN);
      w.probe('dep_1', false, w.clock.nowMs());
      await w.service.round();
    }
    const d = w.table.get('dep_1') as DeploymentRecord;
    assert.equal(d.node, '11');
    assert.equal(d.redeployAttemptsMs?.length, 2);
    assert.equal(d.redeployBlockedUntilMs, start + 31 * MIN + 86_400_000);
    assert.deepEqual(w.events.names().filter((n) => n.startsWith('deployment.redeploy')), ['deployment.redeploy_failed', 'deployment.redeploy_failed', 'deployment.redeploy_exhausted']);
  } finally {
    await w.h.done();
  }
});
