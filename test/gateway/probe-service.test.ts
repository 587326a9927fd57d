// ProbeService with a FakeClock and a fake probe: probes are the evidence for VMs no agent reports; for the others a disagreement counts only once the agent's next report still disagrees.
import { deploymentRecord } from '../helpers/deployment-record.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ProbeService, type Probe } from '../../src/gateway/uptime/probe-service.js';
import { UptimeBook } from '../../src/gateway/uptime/uptime-book.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';

const INTERVAL = 15_000;
const HOUR = 3_600_000;


interface Rig {
  clock: FakeClock;
  uptime: UptimeBook;
  events: FakeEventSink;
  counted: string[];
  /** What the fake probe answers, per address. */
  reachable: Map<string, boolean>;
  probed: string[];
  prober: ProbeService;
}

function rig(deployments: DeploymentRecord[], withAgent: boolean): Rig {
  const clock = new FakeClock();
  const uptime = new UptimeBook(INTERVAL, HOUR);
  const events = new FakeEventSink();
  const counted: string[] = [];
  const reachable = new Map<string, boolean>();
  const probed: string[] = [];
  /** A fake of the TCP probe, named as one: answers from the map. */
  const fakeProbe: Probe = (address) => {
    probed.push(address);
    return Promise.resolve({ reachable: reachable.get(address) ?? false });
  };
  const prober = new ProbeService({
    clock,
    uptime,
    events,
    log: pino({ level: 'silent' }),
    intervalMs: INTERVAL,
    port: 22,
    probe: fakeProbe,
    deployments: () => deployments,
    hasAgent: () => withAgent,
    onDisagreement: (farmer) => counted.push(farmer),
  });
  return { clock, uptime, events, counted, reachable, probed, prober };
}

const deployment = (id: string, over: Partial<DeploymentRecord> = {}): DeploymentRecord => deploymentRecord(id, { order: `o-${id}`, myceliumIp: `4a1::ff0f:${id.length}`, ...over });

test('ProbeService: without an agent, the probes are the up-time evidence', async () => {
  const d = deployment('vm-a');
  const r = rig([d], false);
  r.reachable.set(d.myceliumIp, true);
  for (let i = 0; i < 5; i++) {
    await r.prober.round();
    r.clock.advance(INTERVAL);
  }
  r.reachable.set(d.myceliumIp, false);
  await r.prober.round();
  const start = r.clock.nowMs() - 5 * INTERVAL;
  assert.equal(r.uptime.upSeconds('vm:vm-a', start, r.clock.nowMs()), 5 * INTERVAL / 1000);
  assert.equal(r.uptime.isUp('vm:vm-a', r.clock.nowMs()), false);
  assert.deepEqual(r.events.names(), []);
});

test('ProbeService: only running VMs are probed (not paused in grace, not ended)', async () => {
  const ds = [
    deployment('vm-active'),
    deployment('vm-grace-running', { state: 'grace' }),
    deployment('vm-grace-paused', { state: 'grace', paused: true }),
    deployment('vm-gone', { state: 'deprovisioned' }),
    deployment('vm-new', { state: 'provisioning' }),
  ].map((d, i) => ({ ...d, myceliumIp: `4a1::ff0f:${i}` }));
  const r = rig(ds, false);
  await r.prober.round();
  assert.deepEqual(r.probed.sort(), ['4a1::ff0f:0', '4a1::ff0f:1']);
});

test('ProbeService: a pause between the agent report and the probe is not a disagreement', async () => {
  const d = deployment('vm-b');
  const r = rig([d], true);
  r.uptime.record('vm:vm-b', { atMs: r.clock.nowMs(), up: true });
  r.clock.advance(5_000);
  r.reachable.set(d.myceliumIp, false); // paused just after the agent's report
  await r.prober.round();
  r.clock.advance(INTERVAL);
  r.uptime.record('vm:vm-b', { atMs: r.clock.nowMs() - 1_000, up: false }); // the agent's next report agrees
  await r.prober.round();
  assert.deepEqual(r.counted, []);
  assert.deepEqual(r.events.names(), []);
});

test('ProbeService: an agent that keeps reporting a dead VM as up is counted, once per streak', async () => {
  const d = deployment('vm-c');
  const r = rig([d], true);
  const report = (up: boolean): void => r.uptime.record('vm:vm-c', { atMs: r.clock.nowMs(), up });
  report(true);
  r.clock.advance(1_000);
  await r.prober.round(); // a suspicion only
  assert.deepEqual(r.counted, []);
  for (let i = 0; i < 3; i++) {
    r.clock.advance(INTERVAL - 1_000);
    report(true);
    r.clock.advance(1_000);
    await r.prober.round();
  }
  assert.deepEqual(r.counted, ['uhCAkfarmer', 'uhCAkfarmer', 'uhCAkfarmer']);
  assert.deepEqual(r.events.names(), ['agent.probe_disagreement']);
  assert.equal(r.events.events[0]?.deployment, 'vm-c');
  assert.match(r.events.events[0]?.detail ?? '', /reports vm-c reachable.*probes found it unreachable/);
  // They agree again, then disagree again: a new streak, a new event.
  r.reachable.set(d.myceliumIp, true);
  await r.prober.round();
  r.reachable.set(d.myceliumIp, false);
  for (let i = 0; i < 2; i++) {
    r.clock.advance(INTERVAL - 1_000);
    report(true);
    r.clock.advance(1_000);
    await r.prober.round();
  }
  assert.deepEqual(r.events.names(), ['agent.probe_disagreement', 'agent.probe_disagreement']);
});

test('ProbeService: a stale agent report (older than 2 intervals) is not compared', async () => {
  const d = deployment('vm-d');
  const r = rig([d], true);
  r.uptime.record('vm:vm-d', { atMs: r.clock.nowMs(), up: true });
  for (let i = 0; i < 3; i++) {
    r.clock.advance(2 * INTERVAL + 1);
    await r.prober.round();
  }
  assert.deepEqual(r.counted, []);
});
