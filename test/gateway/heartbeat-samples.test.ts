// HeartbeatSamples: the same up-time samples the hub recorded per heartbeat before the subjects were cached, and a cache bounded by the connection's own nodes and VMs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeartbeatSamples } from '../../src/gateway/agents/heartbeat-samples.js';
import type { Subject } from '../../src/gateway/uptime/uptime-book.js';
import type { Heartbeat, HelloNode, VmAssignment } from '../../src/protocol/index.js';
import type { Sample } from '../../src/protocol/uptime.js';
import { SeededRandom, testSeed } from '../helpers/seeded-random.js';

const T0 = Date.UTC(2026, 0, 1);
const CAPACITY = { cpu: 4, memoryGb: 8, diskGb: 100 };
const hello = (...ids: string[]): HelloNode[] => ids.map((id) => ({ id, capacity: CAPACITY }));
const vm = (id: string, node: string): VmAssignment => ({ id, node, myceliumIp: '400::1', port: 22 });

/** Every sample recorded, in order, as the UptimeBook would be given them. */
class RecordedSamples {
  readonly calls: Array<[Subject, Sample]> = [];
  record(subject: Subject, sample: Sample): void {
    this.calls.push([subject, { atMs: sample.atMs, up: sample.up }]);
  }
}

/** What AgentHub.onHeartbeat recorded before this cache (agent-hub.ts at 65ce7dc): a Map of node states and key strings per heartbeat. */
function recordLikeBefore(nodes: readonly HelloNode[], assigned: ReadonlyMap<string, string>, hb: Heartbeat, into: RecordedSamples): void {
  const mine = new Set(nodes.map((n) => n.id));
  const nodeUp = new Map<string, boolean>();
  for (const n of hb.nodes) {
    if (!mine.has(n.id)) continue;
    nodeUp.set(n.id, n.up);
    into.record(`node:${n.id}`, { atMs: hb.atMs, up: n.up });
  }
  for (const v of hb.vms) {
    const node = assigned.get(v.id);
    if (node === undefined) continue;
    into.record(`vm:${v.id}`, { atMs: hb.atMs, up: v.reachable && nodeUp.get(node) === true });
  }
}

test('records what the hub recorded before, on random heartbeats (foreign and repeated nodes, unassigned VMs, VMs on silent nodes)', () => {
  const random = new SeededRandom(testSeed());
  const nodes = hello('n1', 'n2', 'n3', 'n2');
  // v4 is on a node the hello does not name; v5 is reported but not assigned.
  let vms = [vm('v1', 'n1'), vm('v2', 'n2'), vm('v3', 'n3'), vm('v4', 'n9')];
  const samples = new HeartbeatSamples(nodes, vms);
  const now = new RecordedSamples();
  const before = new RecordedSamples();
  const pick = <T>(xs: readonly T[]): T => xs[random.int(0, xs.length - 1)] as T;
  for (let seq = 1; seq <= 500; seq++) {
    if (seq % 100 === 0) {
      vms = [vm('v1', pick(['n1', 'n2'])), vm('v5', 'n3'), ...(random.next() < 0.5 ? [vm('v3', 'n3')] : [])];
      samples.assign(vms);
    }
    const hb: Heartbeat = {
      seq,
      atMs: T0 + seq * 15_000,
      nodes: Array.from({ length: random.int(0, 5) }, () => ({ id: pick(['n1', 'n2', 'n3', 'n9']), up: random.next() < 0.7 })),
      vms: Array.from({ length: random.int(0, 6) }, () => ({ id: pick(['v1', 'v2', 'v3', 'v4', 'v5']), reachable: random.next() < 0.7 })),
    };
    samples.record(hb, now);
    recordLikeBefore(nodes, new Map(vms.map((v) => [v.id, v.node])), hb, before);
  }
  assert.ok(before.calls.some(([s, x]) => s.startsWith('vm:') && x.up) && before.calls.some(([s, x]) => s.startsWith('vm:') && !x.up), 'both outcomes were exercised');
  assert.deepEqual(now.calls, before.calls, `seed ${random.seed}`);
});

test('holds one subject per node of the hello and per VM assigned: a VM no longer assigned is forgotten and no longer recorded', () => {
  const samples = new HeartbeatSamples(hello('n1', 'n2', 'n1'), [vm('v1', 'n1'), vm('v2', 'n2')]);
  assert.deepEqual(samples.size, { nodes: 2, vms: 2 });
  const beat = (seq: number): Heartbeat => ({ seq, atMs: T0 + seq * 15_000, nodes: [{ id: 'n1', up: true }, { id: 'n2', up: true }], vms: [{ id: 'v1', reachable: true }, { id: 'v2', reachable: true }] });
  const seen = new RecordedSamples();
  samples.record(beat(1), seen);
  assert.deepEqual(seen.calls.map(([s]) => s), ['node:n1', 'node:n2', 'vm:v1', 'vm:v2']);

  samples.assign([vm('v2', 'n2')]);
  assert.deepEqual(samples.size, { nodes: 2, vms: 1 }, 'v1 was destroyed: its slot went');
  const after = new RecordedSamples();
  samples.record(beat(2), after);
  assert.deepEqual(after.calls.map(([s]) => s), ['node:n1', 'node:n2', 'vm:v2'], 'a report of v1 is skipped');

  samples.assign([]);
  assert.deepEqual(samples.size, { nodes: 2, vms: 0 });
  for (let seq = 3; seq < 50; seq++) samples.record({ ...beat(seq), vms: [{ id: `v${seq}`, reachable: true }] }, new RecordedSamples());
  assert.deepEqual(samples.size, { nodes: 2, vms: 0 }, 'reported VMs that are not assigned add nothing');
});

test('a VM moved to another node is judged by its new node', () => {
  const samples = new HeartbeatSamples(hello('n1', 'n2'), [vm('v1', 'n1')]);
  samples.assign([vm('v1', 'n2')]);
  const seen = new RecordedSamples();
  samples.record({ seq: 1, atMs: T0, nodes: [{ id: 'n1', up: true }, { id: 'n2', up: false }], vms: [{ id: 'v1', reachable: true }] }, seen);
  assert.deepEqual(seen.calls.at(-1), ['vm:v1', { atMs: T0, up: false }]);
});
