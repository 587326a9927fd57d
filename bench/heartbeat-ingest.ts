// bench/heartbeat-ingest: the hub's heartbeat handling in-process (no sockets): ns and heap bytes per heartbeat for N agents x M heartbeats, from the parsed message or (--frames) from the frame's bytes.
import { EventEmitter } from 'node:events';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Counter, Registry } from 'prom-client';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { loadLibsodium } from '../src/identity/index.js';
import { AgentHub, type AgentHubDeps } from '../src/gateway/agents/agent-hub.js';
import { UptimeBook } from '../src/gateway/uptime/uptime-book.js';
import { chainNext, GENESIS_HEAD } from '../src/protocol/heartbeat.js';
import type { HeartbeatMessage, HelloMessage, VmAssignment } from '../src/protocol/index.js';
import { TypedEmitter } from '../src/protocol/typed-emitter.js';
import type { HubEvents } from '../src/gateway/agents/agent-hub.js';
import { FakeTable } from '../test/helpers/fake-table.js';
import { positiveIntegerOption } from './teardown.js';

const { values: options } = parseArgs({ options: { agents: { type: 'string' }, beats: { type: 'string' }, nodes: { type: 'string' }, vms: { type: 'string' }, frames: { type: 'boolean' } } });
const USAGE = 'usage: node --expose-gc --max-semi-space-size=64 dist/bench/heartbeat-ingest.js [--agents N (100)] [--beats M per agent (300)] [--nodes per agent (2)] [--vms per node (3)] [--frames: feed each heartbeat as the JSON frame an agent sends, through the hub\'s message listener (messageText, parseAgentMessage, onHeartbeat)]';
const option = (name: string, text: string | undefined, fallback: number): number => positiveIntegerOption('heartbeat-ingest', USAGE, name, text, fallback);
const AGENTS = option('agents', options.agents, 100);
const BEATS = option('beats', options.beats, 300);
const NODES = option('nodes', options.nodes, 2);
const VMS = option('vms', options.vms, 3);
const FRAMES = options.frames === true;
const INTERVAL_MS = 15_000;
const PERIOD_MS = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);

// The gateway hashes heartbeat chains on libsodium (gateway start-up loads it); so does this bench.
await loadLibsodium();

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

/** A fake of the ws WebSocket as the hub uses it (agent-connection.ts sendMessage, agent-hub.ts connected/close), named as one: events, send, close. */
class FakeWebSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  send(): void {}
  ping(): void {}
  terminate(): void {}
  close(): void {
    this.readyState = 3;
    this.emit('close');
  }
}

let nowMs = T0;
// The gateway's wiring of the hub's heartbeat signal (gateway/wiring/http-part.ts): a TypedEmitter and prom-client's hypha_heartbeats_total.
const signals = new TypedEmitter<HubEvents>();
const heartbeatsTotal = new Counter({ name: 'hypha_heartbeats_total', help: 'Agent heartbeats ingested', registers: [new Registry()] });
signals.on('heartbeat', () => heartbeatsTotal.inc());
const quiet = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;
const assignments = (nodes: readonly string[]): VmAssignment[] => nodes.flatMap((n) => Array.from({ length: VMS }, (_, i) => ({ id: `${n}-vm${i}`, node: n, myceliumIp: '400::1', port: 22 })));
const deps = {
  store: { agents: new FakeTable(), chains: new FakeTable(), meta: new FakeTable() },
  clock: { nowMs: () => nowMs },
  identity: { agent: 'gateway' },
  heartbeatIntervalMs: INTERVAL_MS,
  periodMs: PERIOD_MS,
  uptime: new UptimeBook(INTERVAL_MS, PERIOD_MS),
  events: { record: () => Promise.resolve() },
  log: quiet,
  agentRequests: { maxPending: 1, maxPerSubnet: 1 },
  closedThroughMs: () => T0,
  assignmentsFor: assignments,
  signals,
} as unknown as AgentHubDeps;
const hub = new AgentHub(deps);
// The hub's private entry points (agent-hub.ts `connected`, `onHeartbeat`): the same in the base build and this one.
const inside = hub as unknown as { connected(ws: WebSocket, hello: HelloMessage, address: string): Promise<void>; onHeartbeat(conn: unknown, hb: HeartbeatMessage): void; connections: Map<string, unknown> };

const agents = Array.from({ length: AGENTS }, (_, a) => ({ agent: `agent${a}`, nodes: Array.from({ length: NODES }, (_, n) => `n${a}x${n}`), head: GENESIS_HEAD, seq: 0 }));
for (const a of agents) {
  await inside.connected(new FakeWebSocket() as unknown as WebSocket, { type: 'hello', agent: a.agent, nodes: a.nodes.map((id) => ({ id, capacity: { cpu: 4, memoryGb: 8, diskGb: 100 } })), signature: '' } as unknown as HelloMessage, '400::1');
}
const conns = agents.map((a) => inside.connections.get(a.agent));
const sockets = conns.map((c) => (c as { ws: FakeWebSocket }).ws);

/** One heartbeat into the hub: the parsed message to onHeartbeat, or (--frames) its JSON frame as ws delivers it (a Buffer) to the connection's message listener. */
type Beat = HeartbeatMessage | Buffer;
function feed(i: number, beat: Beat): void {
  if (FRAMES) (sockets[i] as FakeWebSocket).emit('message', beat, false);
  else inside.onHeartbeat(conns[i], beat as HeartbeatMessage);
}

/** One round of heartbeats, one per agent, chained ahead of time (outside the measured part; the hub hashes each again in accept). */
function round(r: number): Beat[] {
  return agents.map((a, i) => {
    const body = { seq: ++a.seq, atMs: T0 + r * INTERVAL_MS, nodes: a.nodes.map((id, k) => ({ id, up: (r + i + k) % 7 !== 0 })), vms: a.nodes.flatMap((n) => Array.from({ length: VMS }, (_, v) => ({ id: `${n}-vm${v}`, reachable: (r + v) % 5 !== 0, rttMicros: 900 + v }))) };
    const hb: HeartbeatMessage = { type: 'heartbeat', prev: a.head, ...body };
    a.head = chainNext(a.head, body);
    // Serialised as the agent does (src/agent and test/helpers/sim-agent.ts: JSON.stringify of type, seq, atMs, prev, nodes, vms).
    return FRAMES ? Buffer.from(JSON.stringify({ type: 'heartbeat', seq: hb.seq, atMs: hb.atMs, prev: hb.prev, nodes: hb.nodes, vms: hb.vms })) : hb;
  });
}

let r = 0;
function ingest(rounds: number): { ns: number; cpuNs: number; beats: number } {
  const prepared = Array.from({ length: rounds }, () => round(++r));
  const cpuBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let k = 0; k < rounds; k++) {
    nowMs = T0 + (r - rounds + k + 1) * INTERVAL_MS + 500;
    const beats = prepared[k] as Beat[];
    for (let i = 0; i < beats.length; i++) feed(i, beats[i] as Beat);
  }
  const ns = Number(process.hrtime.bigint() - start);
  const cpu = process.cpuUsage(cpuBefore);
  return { ns, cpuNs: (cpu.user + cpu.system) * 1000, beats: rounds * AGENTS };
}

/** Lets the GC observer's entries (delivered later) arrive. */
const settle = (): Promise<void> => new Promise((res) => setTimeout(res, 100));
let gcs = 0;
const observer = new PerformanceObserver((list) => (gcs += list.getEntries().length));
observer.observe({ entryTypes: ['gc'] });

ingest(50); // warm-up: tracks made, code optimised
// Allocation: heap growth over a short phase with no GC in it (run with a large --max-semi-space-size).
const allocRounds = 20;
const prepared = Array.from({ length: allocRounds }, () => round(++r));
gc();
await settle();
const gcsMid = gcs;
const heapBefore = process.memoryUsage().heapUsed;
for (let k = 0; k < allocRounds; k++) {
  nowMs = T0 + (r - allocRounds + k + 1) * INTERVAL_MS + 500;
  const beats = prepared[k] as Beat[];
  for (let i = 0; i < beats.length; i++) feed(i, beats[i] as Beat);
}
const heapAfter = process.memoryUsage().heapUsed;
await settle();
const allocGcs = gcs - gcsMid;
// Time: a longer phase, GC allowed (its cost is part of the hub's).
const timed = ingest(BEATS);
observer.disconnect();
// Every heartbeat fed must have been ingested (a refused frame closes its fake socket and is not counted).
const counted = (await heartbeatsTotal.get()).values[0]?.value ?? 0;
if (counted !== r * AGENTS) throw new Error(`the hub counted ${counted} heartbeats of ${r * AGENTS} fed`);
const bytesPerBeat = allocGcs === 0 ? Math.round((heapAfter - heapBefore) / (allocRounds * AGENTS)) : null;
process.stdout.write(JSON.stringify({ mode: FRAMES ? 'frames' : 'messages', agents: AGENTS, nodes: NODES, vms: VMS * NODES, beats: timed.beats, nsPerBeat: Math.round(timed.ns / timed.beats), cpuNsPerBeat: Math.round(timed.cpuNs / timed.beats), bytesPerBeat, gcsInAllocPhase: allocGcs }) + '\n');
await hub.close();
