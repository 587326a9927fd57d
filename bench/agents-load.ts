// bench/agents-load: bench/agents' load generator, many simulated farmer agents over real WebSockets, each doing the real handshake and then one chained heartbeat per interval.
// Usage: node dist/bench/agents-load.js PLAN_FILE (run in the farm's namespace). Reads commands on stdin
// ("beat": start heartbeating, "pause": stop heartbeating, "snap", "stop") and writes one JSON object per line on stdout ("progress", "connected", "snap").
import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { fromHex, identityOf, signingKeyPairFromSeed } from '../src/identity/index.js';
import { SimAgent } from '../test/helpers/sim-agent.js';

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

const planFile = process.argv[2];
if (planFile === undefined) {
  process.stderr.write('usage: node dist/bench/agents-load.js PLAN_FILE\n');
  process.exit(2);
}
const plan = JSON.parse(readFileSync(planFile, 'utf8')) as LoadPlan;
const wsUrl = `${plan.url.replace(/^http/, 'ws')}/v1/agent`;
const sims = plan.agents.map(
  (a) =>
    new SimAgent({
      identity: identityOf(signingKeyPairFromSeed(fromHex('seedHex', a.seedHex, 32))),
      nodes: [a.node],
      extraVms: Array.from({ length: plan.vmsPerHeartbeat }, (_, k) => `${a.node}-vm${k}`),
    }),
);

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

/** Opens one agent's connection and does the real handshake (test/helpers/sim-agent.ts); resolves once welcomed or refused. */
async function connect(sim: SimAgent): Promise<void> {
  sim.onLost = (code, reason) => {
    closes++;
    noteReason(`close ${code} ${reason}`);
  };
  sim.onError = (err) => {
    errors++;
    noteReason(`error: ${err.message}`);
  };
  const outcome = await sim.connect(wsUrl, 30_000);
  if (!outcome.welcomed && !stopping) {
    failed++;
    noteReason(`close ${outcome.code} ${outcome.reason}`);
  }
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
  if (sim.beat()) sent++;
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
    backlogBytes += s.backlogBytes();
  }
  const out: LoadSnap = { t: 'snap', atMs: Date.now(), connected, sent, closes, errors, closeReasons, maxLagMs, probesMs, probeFailures, backlogBytes };
  maxLagMs = 0;
  probesMs = [];
  return out;
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const s of sims) s.close();
  setTimeout(() => process.exit(0), 200);
}

createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line === 'beat') startHeartbeats();
    else if (line === 'pause') {
      // Cleared, so the next "beat" starts again: bench/agents alternates phases of two servers.
      clearInterval(beating);
      beating = undefined;
    }
    else if (line === 'snap') print(snap());
    else if (line === 'stop') stop();
  })
  .on('close', stop);
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

setInterval(probe, 1000);
await connectAll();
