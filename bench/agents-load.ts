// bench/agents-load: bench/agents' load generator, many simulated farmer agents over real WebSockets, each doing the real handshake and then one chained heartbeat per interval.
// Usage: node dist/bench/agents-load.js PLAN_FILE (run in the farm's namespace). Reads commands on stdin
// ("beat": start heartbeating, "pause": stop heartbeating, "snap", "stop") and writes one JSON object per line on stdout ("progress", "connected", "snap").
import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { fromHex, identityOf, signJsonStatement, signingKeyPairFromSeed, toBase64, type Identity } from '../src/identity/index.js';
import { AGENT_AUTH_PURPOSE, GENESIS_HEAD, chainNext, type Heartbeat, type NodeReport, type VmReport } from '../src/protocol/index.js';

/** What bench/agents hands this process: the server, the pace, and the agents to play. */
export interface LoadPlan {
  /** The server's base URL, e.g. http://[4a1::1]:8480; agents connect to its /v1/agent. */
  readonly url: string;
  readonly intervalMs: number;
  readonly vmsPerHeartbeat: number;
  /** Handshakes in flight at once while connecting. */
  readonly connectConcurrency: number;
  readonly agents: readonly { readonly seedHex: string; readonly node: string }[];
}

/** Printed once every agent has had its handshake: how many were welcomed, how many refused, and how long it took. */
export interface LoadConnected {
  readonly t: 'connected';
  readonly connected: number;
  readonly failed: number;
  readonly ms: number;
  readonly closeReasons: readonly string[];
}

/** A snapshot of this process's counters, answered to "snap". */
export interface LoadSnap {
  readonly t: 'snap';
  readonly atMs: number;
  /** Agents welcomed and still open. */
  readonly connected: number;
  /** Heartbeats sent since start. */
  readonly sent: number;
  /** Connections closed by the other side after their welcome, and socket errors, since start. */
  readonly closes: number;
  readonly errors: number;
  readonly closeReasons: readonly string[];
  /** The latest a heartbeat went out after its slot, since the last snap (this process keeping up). */
  readonly maxLagMs: number;
  /** Latencies of plain GET /v1/agent probes since the last snap (the server staying responsive). */
  readonly probesMs: readonly number[];
  readonly probeFailures: number;
  /** Bytes queued in this process's sockets, unsent: the server not reading fast enough. */
  readonly backlogBytes: number;
}

interface SimAgent {
  readonly identity: Identity;
  readonly node: string;
  readonly vmIds: readonly string[];
  ws?: WebSocket;
  ready: boolean;
  seq: number;
  head: string;
}

const planFile = process.argv[2];
if (planFile === undefined) {
  process.stderr.write('usage: node dist/bench/agents-load.js PLAN_FILE\n');
  process.exit(2);
}
const plan = JSON.parse(readFileSync(planFile, 'utf8')) as LoadPlan;
const wsUrl = `${plan.url.replace(/^http/, 'ws')}/v1/agent`;
const sims: SimAgent[] = plan.agents.map((a) => ({
  identity: identityOf(signingKeyPairFromSeed(fromHex('seedHex', a.seedHex, 32))),
  node: a.node,
  vmIds: Array.from({ length: plan.vmsPerHeartbeat }, (_, k) => `${a.node}-vm${k}`),
  ready: false,
  seq: 0,
  head: GENESIS_HEAD,
}));

let stopping = false;
let beating: NodeJS.Timeout | undefined;
let sent = 0;
let closes = 0;
let errors = 0;
let failed = 0;
const closeReasons: string[] = [];
let maxLagMs = 0;
let probesMs: number[] = [];
let probeFailures = 0;

const print = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');
const noteReason = (reason: string): void => {
  if (closeReasons.length < 5) closeReasons.push(reason);
};

/** Opens one agent's connection and answers the challenge as src/agent/agent.ts does; resolves once welcomed or refused. */
function connect(sim: SimAgent): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl, { handshakeTimeout: 10_000, maxPayload: 4 * 1024 * 1024 });
    sim.ws = ws;
    const giveUp = setTimeout(() => ws.terminate(), 30_000);
    ws.on('message', (data: Buffer) => {
      if (sim.ready) return;
      const m = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      if (m.type === 'challenge') {
        const nodes = [sim.node];
        const statement = { agent: sim.identity.agent, gateway: m.gateway, nonce: m.nonce, nodes };
        const signature = toBase64(signJsonStatement(sim.identity.secretKey, AGENT_AUTH_PURPOSE, statement));
        ws.send(JSON.stringify({ type: 'hello', agent: sim.identity.agent, nodes: [{ id: sim.node, capacity: { cpu: 0, memoryGb: 0, diskGb: 0 } }], signature }));
      } else if (m.type === 'welcome') {
        clearTimeout(giveUp);
        sim.seq = Number(m.resumeFromSeq) - 1;
        sim.head = typeof m.head === 'string' ? m.head : GENESIS_HEAD;
        sim.ready = true;
        resolve();
      }
    });
    ws.on('error', (err) => {
      errors++;
      noteReason(`error: ${err.message}`);
    });
    ws.on('close', (code, reason) => {
      clearTimeout(giveUp);
      if (stopping) return;
      if (sim.ready) {
        sim.ready = false;
        closes++;
      } else failed++;
      noteReason(`close ${code} ${reason.toString('utf8')}`);
      resolve();
    });
  });
}

/** Connects every agent, `connectConcurrency` handshakes at a time. */
async function connectAll(): Promise<void> {
  const started = Date.now();
  const progress = setInterval(() => print({ t: 'progress', connected: sims.filter((s) => s.ready).length, failed }), 1000);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sims.length && !stopping) await connect(sims[next++] as SimAgent);
  };
  await Promise.all(Array.from({ length: Math.max(1, plan.connectConcurrency) }, worker));
  clearInterval(progress);
  const done: LoadConnected = { t: 'connected', connected: sims.filter((s) => s.ready).length, failed, ms: Date.now() - started, closeReasons };
  print(done);
}

function beat(sim: SimAgent): void {
  const ws = sim.ws;
  if (!sim.ready || ws === undefined || ws.readyState !== WebSocket.OPEN) return;
  const nodes: NodeReport[] = [{ id: sim.node, up: true }];
  const vms: VmReport[] = sim.vmIds.map((id) => ({ id, reachable: true, rttMicros: 400 + Math.floor(Math.random() * 2000) }));
  const hb: Heartbeat = { seq: sim.seq + 1, atMs: Date.now(), nodes, vms };
  ws.send(JSON.stringify({ type: 'heartbeat', seq: hb.seq, atMs: hb.atMs, prev: sim.head, nodes, vms }));
  sim.head = chainNext(sim.head, hb);
  sim.seq = hb.seq;
  sent++;
}

/**
 * Every agent beats once per interval, in its own slot (agent i at i/N of the interval), so the
 * load is spread over the second as independent agents' would be, not sent in one burst. They
 * start together when told ("beat"), so bench/agents can weigh the connections before any heartbeat.
 */
function startHeartbeats(): void {
  if (beating) return;
  const t0 = Date.now();
  const slotMs = plan.intervalMs / Math.max(1, sims.length);
  let round = 0;
  let i = 0;
  beating = setInterval(() => {
    const now = Date.now();
    for (let due = t0 + round * plan.intervalMs + i * slotMs; due <= now; due = t0 + round * plan.intervalMs + i * slotMs) {
      maxLagMs = Math.max(maxLagMs, now - due);
      beat(sims[i] as SimAgent);
      if (++i === sims.length) {
        i = 0;
        round++;
      }
    }
  }, 5);
}

/** One plain GET /v1/agent, timed: the server must keep answering HTTP under the load. */
function probe(): void {
  const started = process.hrtime.bigint();
  const req = httpGet(`${plan.url}/v1/agent`, { agent: false, timeout: 5000 }, (res) => {
    res.resume();
    res.on('end', () => probesMs.push(Number(process.hrtime.bigint() - started) / 1e6));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => probeFailures++);
}

function snap(): LoadSnap {
  let backlogBytes = 0;
  let connected = 0;
  for (const s of sims) {
    if (s.ready && s.ws?.readyState === WebSocket.OPEN) connected++;
    backlogBytes += s.ws?.bufferedAmount ?? 0;
  }
  const out: LoadSnap = { t: 'snap', atMs: Date.now(), connected, sent, closes, errors, closeReasons, maxLagMs, probesMs, probeFailures, backlogBytes };
  maxLagMs = 0;
  probesMs = [];
  return out;
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const s of sims) s.ws?.terminate();
  setTimeout(() => process.exit(0), 200);
}

createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line === 'beat') startHeartbeats();
    else if (line === 'pause') clearInterval(beating);
    else if (line === 'snap') print(snap());
    else if (line === 'stop') stop();
  })
  .on('close', stop);
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

setInterval(probe, 1000);
await connectAll();
