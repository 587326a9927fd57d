// bench/agents: many simulated farmer agents over real WebSockets against the real gateway, and against a bare ws server that only parses the JSON, in the same run.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { errorMessage } from '../src/identity/error-message.js';
import { generateX25519KeyPair, myceliumAddressOfKey, newIdentity, seedOf, subnet64, toHex, type Identity } from '../src/identity/index.js';
import { addHost, createBridge, listNamespaces, namespaceName, nsExec, removeLab } from '../src/lab/netns.js';
import { median } from './measure.js';
import { positiveIntegerOption, Teardown } from './teardown.js';
import { cpuSeconds, stopProcess, waitForLine, warningsIn, type Started } from './processes.js';
import { runCommand } from '../test/helpers/run.js';
import type { LoadConnected, LoadPlan, LoadSnap } from './agents-load.js';

/** The repository root (this file runs as dist/bench/agents.js). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HYPHA_BIN = join(ROOT, 'bin', 'hypha.js');
const BARE_SERVER = join(ROOT, 'dist', 'bench', 'bare-ws-server.js');
const LOAD = join(ROOT, 'dist', 'bench', 'agents-load.js');

const USAGE =
  'usage: node dist/bench/agents.js [--agents 500,2000,5000] [--rounds R (5)] [--seconds S (10)] [--settle S (3)] [--vms V (3)] [--processes P (1)] [--concurrency C (32)] [--cpu-prof DIR]';
const { values: options } = parseArgs({
  options: {
    agents: { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    settle: { type: 'string' },
    vms: { type: 'string' },
    processes: { type: 'string' },
    concurrency: { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});
const AGENT_COUNTS = (options.agents ?? '500,2000,5000').split(',').map((n) => positiveInteger('agents', n, 0));
/**
 * Both servers run side by side with their agents connected, and their heartbeat phases take
 * turns, ROUNDS times each: on a shared machine the load of other processes moves between
 * minutes, so a gateway phase is compared with the bare phase right before it, not with one
 * measured minutes earlier; the ratio reported is the median of the rounds' ratios.
 */
const ROUNDS = positiveInteger('rounds', options.rounds, 5);
const WINDOW_SECONDS = positiveInteger('seconds', options.seconds, 10);
const SETTLE_SECONDS = positiveInteger('settle', options.settle, 3);
const VMS = positiveInteger('vms', options.vms, 3);
const PROCESSES = positiveInteger('processes', options.processes, 1);
const CONCURRENCY = positiveInteger('concurrency', options.concurrency, 32);
const CPU_PROF_DIR = options['cpu-prof'];
/** How long the server gets to ingest what is in flight after the agents pause. */
const DRAIN_MS = 2000;
/** Every agent beats once a second (the issue's bench; production default is 15 s, docs/architecture.md "Agents and up-time"). */
const HEARTBEAT_INTERVAL_MS = 1000;
const GATEWAY_PORT = 8480;
/** The baseline's port: next to the gateway's, on the gateway's own address. */
const BARE_PORT = 8481;
const HOUR_MS = 3_600_000;
const GATEWAY = 'hypha gateway';
const BARE = 'bare ws + JSON.parse';

/**
 * Both servers run with the inspector on the gateway namespace's loopback (each on its own port),
 * so the bench can force a full GC and read the live heap: RSS alone is too noisy to weigh a few KiB per agent.
 */
const INSPECTOR_PORTS: Record<string, number> = { [GATEWAY]: 9229, [BARE]: 9230 };
const inspectFlag = (server: string): string => `--inspect=127.0.0.1:${INSPECTOR_PORTS[server]}`;
/** Run in the server's namespace: two full GCs over the inspector protocol, then the live heap (bytes) on stdout. */
const heapAfterGcScript = (port: number): string => `
import { WebSocket } from 'ws';
const [target] = await (await fetch('http://127.0.0.1:${port}/json/list')).json();
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
let id = 0;
const call = (method, params = {}) => new Promise((resolve) => {
  const me = ++id;
  const onMessage = (data) => { const m = JSON.parse(data.toString()); if (m.id === me) { ws.off('message', onMessage); resolve(m.result); } };
  ws.on('message', onMessage);
  ws.send(JSON.stringify({ id: me, method, params }));
});
await call('HeapProfiler.collectGarbage');
await call('HeapProfiler.collectGarbage');
const r = await call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
process.stdout.write(String(r.result.value));
ws.close();
`;

/** What one server did under one load. */
interface RunResult {
  readonly server: string;
  readonly agents: number;
  readonly connected: number;
  readonly startupSeconds: number;
  readonly connectSeconds: number;
  /** Server CPU while the agents connected (no heartbeats yet), per agent. */
  readonly cpuMsPerHandshake: number;
  readonly ingestedPerSecond: number;
  readonly sentPerSecond: number;
  /** Heartbeats sent but never ingested, counted after the last phase drained: a valid run has none. */
  readonly lost: number;
  /** The median over the phases. */
  readonly cpuMsPer1000: number;
  /** Each phase's, in order. */
  readonly cpuMsPer1000Phases: readonly number[];
  readonly cpuPercent: number;
  /** Live heap (after a full GC) with every agent connected and none beating yet, minus idle, per agent. */
  readonly heapKibPerAgent: number;
  /** The same in resident memory: includes sockets' native memory, but V8 grows and returns pages as it likes. */
  readonly rssKibPerAgent: number;
  readonly idleRssMiB: number;
  /** Live heap growth from the first heartbeat to the window's end per heartbeat ingested: what the server keeps per heartbeat. */
  readonly retainedBytesPerHeartbeat: number;
  readonly probeP50Ms: number;
  readonly probeMaxMs: number;
  readonly probeFailures: number;
  readonly closes: number;
  readonly errors: number;
  readonly closeReasons: readonly string[];
  readonly loadCpuPercent: number;
  readonly loadMaxLagMs: number;
  readonly backlogBytes: number;
  readonly crossedHour: boolean;
  /** Warnings and errors the gateway logged (a chain gap, clock skew, a failed admit): a valid run has none. */
  readonly warnings: number;
}

const started = new Set<Started>();
const teardown = new Teardown('bench/agents', () => Promise.all([...started].map((p) => stopProcess(p))));

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  return positiveIntegerOption('bench/agents', USAGE, name, text, fallback);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line: string): void => void process.stderr.write(`bench/agents: ${line}\n`);

/** Resident memory of process `pid` in KiB, from /proc/PID/status (VmRSS). */
function rssKib(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** The server's live JS heap in KiB after a full GC, read through its inspector (see inspectFlag). */
async function heapAfterGcKib(ns: string, server: string): Promise<number> {
  const out = await runIn(ns, process.execPath, ['--input-type=module', '-e', heapAfterGcScript(INSPECTOR_PORTS[server] ?? 0)], 30_000, ROOT);
  const bytes = Number(out.trim());
  if (!Number.isFinite(bytes)) throw new Error(`heap after GC: unexpected answer ${JSON.stringify(out.slice(0, 200))}`);
  return bytes / 1024;
}

/** heapAfterGcKib, or NaN (said on stderr) when the inspector does not answer: a saturated server. */
async function heapKibOrNaN(ns: string, server: string): Promise<number> {
  try {
    return await heapAfterGcKib(ns, server);
  } catch (err) {
    say(`no heap reading: ${errorMessage(err)}`);
    return NaN;
  }
}

/**
 * Starts `argv` in namespace `ns` with the open-files limit raised to the hard limit (thousands of
 * sockets). Children get their own process group, so a Ctrl-C reaches only this script, which
 * ends them before it removes the namespaces. `ip netns exec` and `sh` exec, so the pid is the command's.
 */
function startIn(name: string, ns: string, argv: readonly string[]): Started {
  if (teardown.started) throw new Error(`interrupted before starting ${name}`);
  const child = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', 'ulimit -n "$(ulimit -Hn)" && exec "$@"', 'sh', ...argv], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  if (child.pid === undefined) throw new Error(`${name}: could not start`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const p: Started = { name, child, pid: child.pid, exited };
  started.add(p);
  void exited.then(() => started.delete(p));
  child.stdin?.on('error', () => undefined);
  return p;
}

/** Runs a command in namespace `ns` to completion and returns its stdout. */
async function runIn(ns: string, cmd: string, args: readonly string[], timeoutMs = 20_000, cwd?: string): Promise<string> {
  const r = await runCommand('ip', ['netns', 'exec', ns, cmd, ...args], { timeoutMs, ...(cwd === undefined ? {} : { cwd }) });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** One load-generator process: its counters, asked for with "snap". */
class LoadProcess {
  private readonly waiters: ((s: LoadSnap) => void)[] = [];
  readonly connected: Promise<LoadConnected>;

  constructor(readonly proc: Started, logFile: string) {
    const log = createWriteStream(logFile);
    proc.child.stderr?.pipe(log);
    let onConnected: (v: LoadConnected) => void = () => undefined;
    this.connected = new Promise((resolve, reject) => {
      onConnected = resolve;
      void proc.exited.then(() => reject(new Error(`${proc.name} exited (see ${logFile})`)));
    });
    this.connected.catch(() => undefined);
    createInterface({ input: proc.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      log.write(line + '\n');
      const m = JSON.parse(line) as LoadConnected | LoadSnap | { t: 'progress' };
      if (m.t === 'connected') onConnected(m);
      else if (m.t === 'snap') this.waiters.shift()?.(m);
    });
  }

  snap(): Promise<LoadSnap> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.proc.name}: no snap within 10 s`)), 10_000);
      this.waiters.push((s) => {
        clearTimeout(timer);
        resolve(s);
      });
      this.proc.child.stdin?.write('snap\n');
    });
  }
}

/** The lab: a gateway host and a farm host in two /64s of 400::/7, on one bridge. */
interface Lab {
  readonly gatewayNs: string;
  readonly farmNs: string;
  readonly gatewayAddress: string;
  readonly farmAddress: string;
  readonly farmSubnet: string;
}

async function createLab(name: string): Promise<Lab> {
  const prefix = `hl-${name}-`;
  if ((await listNamespaces()).some((ns) => ns.startsWith(prefix))) throw new Error(`namespaces ${prefix}* exist already: another bench/agents with this pid? remove them with ip netns del`);
  teardown.add(() => removeLab(name));
  // Two random Mycelium addresses: their /64s differ (64 random bits each).
  const gatewayAddress = myceliumAddressOfKey(generateX25519KeyPair().publicKey);
  const farmAddress = myceliumAddressOfKey(generateX25519KeyPair().publicKey);
  await createBridge(name);
  const gatewayNs = await addHost(name, 'gw', 1, gatewayAddress);
  const farmNs = await addHost(name, 'farm', 2, farmAddress);
  // Thousands of connections from one address, run after run: wide port range, TIME_WAIT ports reused.
  await nsExec(farmNs, 'sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65000', 'net.ipv4.tcp_tw_reuse=1');
  for (const ns of [gatewayNs, farmNs]) await nsExec(ns, 'sysctl', '-qw', 'net.core.somaxconn=4096');
  return { gatewayNs, farmNs, gatewayAddress, farmAddress, farmSubnet: subnet64(farmAddress) };
}

/** Starts the real gateway approving `agents`, each for its own node from the farm's /64; resolves once it listens. */
async function startGateway(lab: Lab, dir: string, agents: readonly Identity[]): Promise<Started> {
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const config = {
    listen: lab.gatewayAddress,
    port: GATEWAY_PORT,
    dataDir,
    // The farm's /64 is an admin so the bench can read GET /metrics (hypha_heartbeats_total) from there.
    admins: [lab.farmSubnet],
    heartbeatIntervalSeconds: HEARTBEAT_INTERVAL_MS / 1000,
    agents: agents.map((a, i) => ({ agent: a.agent, subnets: [lab.farmSubnet], nodes: [`n${i}`] })),
    // Every simulated agent connects from the farm's one /64: lift the per-/64 and total caps above the agent count.
    http: { maxConnections: agents.length + 100, maxConnectionsPerSubnet: agents.length + 100, agentUpgradesPerMinute: agents.length + 100 },
  };
  const configFile = join(dir, 'gateway.json');
  writeFileSync(configFile, JSON.stringify(config, null, 1));
  // Node refuses --cpu-prof in NODE_OPTIONS: it goes on the command line; the profile is written when the gateway exits.
  const profile = CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`];
  const p = startIn(`gateway (${agents.length} agents)`, lab.gatewayNs, [process.execPath, inspectFlag(GATEWAY), ...profile, HYPHA_BIN, 'gateway', '--config', configFile]);
  await waitForLine(p, 'gateway listening', 300_000, join(dir, 'gateway.log'));
  return p;
}

async function startBare(lab: Lab, dir: string): Promise<Started> {
  const p = startIn('bare-ws-server', lab.gatewayNs, [process.execPath, inspectFlag(BARE), BARE_SERVER, lab.gatewayAddress, String(BARE_PORT)]);
  await waitForLine(p, 'bare-ws listening', 30_000, join(dir, 'bare.log'));
  return p;
}

/** A server-side heartbeat count, read at `atMs`. */
interface Count {
  readonly count: number;
  readonly atMs: number;
}

/**
 * Heartbeats the server has ingested so far (the gateway's hypha_heartbeats_total, the bare
 * server's parsed count), read from the farm's namespace; `atMs` is the middle of the request.
 * NaN when the server does not answer within 30 s: it is saturated, which the table then shows.
 */
async function ingested(lab: Lab, server: string, url: string): Promise<Count> {
  const before = Date.now();
  let text: string;
  try {
    text = await runIn(lab.farmNs, 'curl', ['-sS', '--max-time', '30', `${url}${server === GATEWAY ? '/metrics' : '/count'}`], 40_000);
  } catch (err) {
    say(`${server}: no count: ${errorMessage(err)}`);
    return { count: NaN, atMs: NaN };
  }
  const atMs = (before + Date.now()) / 2;
  if (server === GATEWAY) {
    const m = /^hypha_heartbeats_total (\d+)/m.exec(text);
    if (!m) throw new Error(`GET /metrics has no hypha_heartbeats_total: ${text.slice(0, 300)}`);
    return { count: Number(m[1]), atMs };
  }
  return { count: (JSON.parse(text) as { messages: number }).messages, atMs };
}

/** Starts the load generators (agents split evenly) and waits until each has connected its share. */
async function startLoad(lab: Lab, dir: string, url: string, agents: readonly Identity[]): Promise<{ loads: LoadProcess[]; connected: number; connectSeconds: number; reasons: string[] }> {
  const loads: LoadProcess[] = [];
  const share = Math.ceil(agents.length / PROCESSES);
  for (let k = 0; k * share < agents.length; k++) {
    const plan: LoadPlan = {
      url,
      intervalMs: HEARTBEAT_INTERVAL_MS,
      vmsPerHeartbeat: VMS,
      connectConcurrency: Math.max(1, Math.round(CONCURRENCY / PROCESSES)),
      agents: agents.slice(k * share, (k + 1) * share).map((a, j) => ({ seedHex: toHex(seedOf(a.secretKey)), node: `n${k * share + j}` })),
    };
    const planFile = join(dir, `load-${k}.json`);
    writeFileSync(planFile, JSON.stringify(plan));
    loads.push(new LoadProcess(startIn(`agents-load ${k}`, lab.farmNs, [process.execPath, LOAD, planFile]), join(dir, `load-${k}.log`)));
  }
  const timeoutMs = 60_000 + agents.length * 20;
  const done = await Promise.race([
    Promise.all(loads.map((l) => l.connected)),
    sleep(timeoutMs).then(() => {
      throw new Error(`agents not connected after ${timeoutMs / 1000} s`);
    }),
  ]);
  return {
    loads,
    connected: done.reduce((n, d) => n + d.connected, 0),
    connectSeconds: Math.max(...done.map((d) => d.ms)) / 1000,
    reasons: done.flatMap((d) => d.closeReasons),
  };
}

const sumOf = (snaps: readonly LoadSnap[], pick: (s: LoadSnap) => number): number => snaps.reduce((n, s) => n + pick(s), 0);

/** A server with its agents connected and not beating: what the heartbeat phases take turns on. */
interface Prepared {
  readonly server: string;
  readonly target: Started;
  readonly load: Awaited<ReturnType<typeof startLoad>>;
  readonly url: string;
  readonly runDir: string;
  readonly startupSeconds: number;
  readonly connectCpuSeconds: number;
  readonly idleHeap: number;
  readonly idleRss: number;
  readonly connectedHeap: number;
  readonly connectedRss: number;
  /** The server's count before the first heartbeat: everything after it was sent in a phase. */
  readonly countAtBeat: Count;
  /** Heartbeats the load generators had sent then (none: they had not started). */
  readonly sentAtBeat: number;
}

/** One heartbeat phase of one server: a settle, a measured window, then a pause and a drain. */
interface Phase {
  readonly cpuMsPer1000: number;
  readonly cpuPercent: number;
  readonly ingestedPerSecond: number;
  readonly sentPerSecond: number;
  readonly lost: number;
  readonly loadCpuPercent: number;
  readonly snaps: readonly LoadSnap[];
  readonly crossedHour: boolean;
}

/** Starts `server` and connects `agents` agents to it (no heartbeats yet); measures idle and connected memory. */
async function prepare(lab: Lab, dir: string, server: string, agents: readonly Identity[], ticksPerSecond: number): Promise<Prepared> {
  const runDir = join(dir, `${server === GATEWAY ? 'gateway' : 'bare'}-${agents.length}`);
  mkdirSync(runDir, { recursive: true });
  const startMs = Date.now();
  const target = server === GATEWAY ? await startGateway(lab, runDir, agents) : await startBare(lab, runDir);
  const startupSeconds = (Date.now() - startMs) / 1000;
  const port = server === GATEWAY ? GATEWAY_PORT : BARE_PORT;
  const url = `http://[${lab.gatewayAddress}]:${port}`;
  await sleep(2000);
  const idleHeap = await heapKibOrNaN(lab.gatewayNs, server);
  const idleRss = rssKib(target.pid);
  say(`${server}: up in ${startupSeconds.toFixed(1)} s, RSS ${(idleRss / 1024).toFixed(0)} MiB, heap ${(idleHeap / 1024).toFixed(0)} MiB idle; connecting ${agents.length} agents`);
  const cpuBeforeConnect = cpuSeconds(target.pid, ticksPerSecond);
  const load = await startLoad(lab, runDir, url, agents);
  if (load.connected < agents.length) throw new Error(`${server}: only ${load.connected} of ${agents.length} agents connected (${load.reasons.join('; ')})`);
  const connectCpuSeconds = cpuSeconds(target.pid, ticksPerSecond) - cpuBeforeConnect;
  await sleep(2000);
  const connectedHeap = await heapKibOrNaN(lab.gatewayNs, server);
  const connectedRss = rssKib(target.pid);
  say(`${server}: ${load.connected} agents connected in ${load.connectSeconds.toFixed(1)} s, RSS +${((connectedRss - idleRss) / 1024).toFixed(0)} MiB, heap +${((connectedHeap - idleHeap) / 1024).toFixed(0)} MiB`);
  const countAtBeat = await ingested(lab, server, url);
  const sentAtBeat = sumOf(await Promise.all(load.loads.map((l) => l.snap())), (s) => s.sent);
  return { server, target, load, url, runDir, startupSeconds, connectCpuSeconds, idleHeap, idleRss, connectedHeap, connectedRss, countAtBeat, sentAtBeat };
}

/** One heartbeat phase of `p`: its agents beat, settle, are measured for a window, then pause while the server drains. */
async function phase(lab: Lab, p: Prepared, ticksPerSecond: number): Promise<Phase> {
  const { server, target, load, url } = p;
  const before = await ingested(lab, server, url);
  const sentBefore = sumOf(await Promise.all(load.loads.map((l) => l.snap())), (s) => s.sent);
  for (const l of load.loads) l.proc.child.stdin?.write('beat\n');
  await sleep(SETTLE_SECONDS * 1000);
  // The counts are read through curl (tens of ms): each is timed at its midpoint, and the CPU
  // window sits inside the count window, so neither scrape is charged to the server.
  const count0 = await ingested(lab, server, url);
  const cpu0 = cpuSeconds(target.pid, ticksPerSecond);
  const t0 = Date.now();
  const loadCpu0 = load.loads.reduce((n, l) => n + cpuSeconds(l.proc.pid, ticksPerSecond), 0);
  const snaps0 = await Promise.all(load.loads.map((l) => l.snap()));
  await sleep(WINDOW_SECONDS * 1000);
  const snaps1 = await Promise.all(load.loads.map((l) => l.snap()));
  const loadCpu1 = load.loads.reduce((n, l) => n + cpuSeconds(l.proc.pid, ticksPerSecond), 0);
  const t1 = Date.now();
  const cpu1 = cpuSeconds(target.pid, ticksPerSecond);
  const count1 = await ingested(lab, server, url);
  // Then the agents stop beating (still connected) and the server drains: every heartbeat sent must have been ingested.
  for (const l of load.loads) l.proc.child.stdin?.write('pause\n');
  await sleep(DRAIN_MS);
  const drained = await ingested(lab, server, url);
  const snapsDrained = await Promise.all(load.loads.map((l) => l.snap()));
  const seconds = (t1 - t0) / 1000;
  const lost = sumOf(snapsDrained, (s) => s.sent) - sentBefore - (drained.count - before.count);
  // The window's heartbeats, counted by the load generators' snaps taken next to the CPU readings:
  // exact when none was lost; the server's own count (timed through curl, within about 1%) otherwise.
  const sentInWindow = sumOf(snaps1, (s) => s.sent) - sumOf(snaps0, (s) => s.sent);
  const ingestedPerSecond = (count1.count - count0.count) / ((count1.atMs - count0.atMs) / 1000);
  const heartbeats = lost === 0 ? sentInWindow : ingestedPerSecond * seconds;
  return {
    cpuMsPer1000: heartbeats > 0 ? ((cpu1 - cpu0) * 1000 * 1000) / heartbeats : NaN,
    cpuPercent: ((cpu1 - cpu0) / seconds) * 100,
    ingestedPerSecond,
    sentPerSecond: sentInWindow / seconds,
    lost,
    loadCpuPercent: ((loadCpu1 - loadCpu0) / seconds) * 100,
    snaps: snaps1.map((s, k) => ({ ...s, probeFailures: s.probeFailures - (snaps0[k]?.probeFailures ?? 0) })),
    crossedHour: Math.floor(t0 / HOUR_MS) !== Math.floor(t1 / HOUR_MS),
  };
}

/** What a server did over all its phases: medians of the phases, memory from `prepare`, heap kept from the first heartbeat to the end. */
async function summarise(lab: Lab, p: Prepared, agents: number, phases: readonly Phase[]): Promise<RunResult> {
  const endHeap = await heapKibOrNaN(lab.gatewayNs, p.server);
  const end = await ingested(lab, p.server, p.url);
  const ingestedTotal = end.count - p.countAtBeat.count;
  const last = phases[phases.length - 1]?.snaps ?? [];
  // Over the whole run, after the last drain and the heap reading: a phase's stragglers (a
  // saturated machine can hold some past its drain) are counted in the next phase, not lost.
  const sentTotal = sumOf(await Promise.all(p.load.loads.map((l) => l.snap())), (s) => s.sent) - p.sentAtBeat;
  const probes = phases.flatMap((ph) => ph.snaps.flatMap((s) => s.probesMs));
  const med = (pick: (ph: Phase) => number): number => median(phases.map(pick));
  return {
    server: p.server,
    agents,
    connected: sumOf(last, (s) => s.connected),
    startupSeconds: p.startupSeconds,
    connectSeconds: p.load.connectSeconds,
    cpuMsPerHandshake: (p.connectCpuSeconds * 1000) / agents,
    ingestedPerSecond: med((ph) => ph.ingestedPerSecond),
    sentPerSecond: med((ph) => ph.sentPerSecond),
    lost: sentTotal - ingestedTotal,
    cpuMsPer1000: med((ph) => ph.cpuMsPer1000),
    cpuMsPer1000Phases: phases.map((ph) => ph.cpuMsPer1000),
    cpuPercent: med((ph) => ph.cpuPercent),
    heapKibPerAgent: (p.connectedHeap - p.idleHeap) / agents,
    rssKibPerAgent: (p.connectedRss - p.idleRss) / agents,
    idleRssMiB: p.idleRss / 1024,
    retainedBytesPerHeartbeat: ingestedTotal > 0 ? ((endHeap - p.connectedHeap) * 1024) / ingestedTotal : NaN,
    probeP50Ms: probes.length > 0 ? median(probes) : NaN,
    probeMaxMs: probes.length > 0 ? Math.max(...probes) : NaN,
    probeFailures: phases.reduce((n, ph) => n + sumOf(ph.snaps, (s) => s.probeFailures), 0),
    closes: sumOf(last, (s) => s.closes),
    errors: sumOf(last, (s) => s.errors),
    closeReasons: last.flatMap((s) => s.closeReasons),
    loadCpuPercent: med((ph) => ph.loadCpuPercent),
    loadMaxLagMs: Math.max(...phases.flatMap((ph) => ph.snaps.map((s) => s.maxLagMs))),
    backlogBytes: sumOf(last, (s) => s.backlogBytes),
    crossedHour: phases.some((ph) => ph.crossedHour),
    warnings: p.server === GATEWAY ? warningsIn(join(p.runDir, 'gateway.log')) : 0,
  };
}

/** Stops a prepared server's load generators, then the server. */
async function finish(p: Prepared): Promise<void> {
  for (const l of p.load.loads) l.proc.child.stdin?.end('stop\n');
  await Promise.all(p.load.loads.map((l) => Promise.race([l.proc.exited, sleep(5000).then(() => stopProcess(l.proc))])));
  await stopProcess(p.target);
}

/**
 * Both servers under `agents` agents each, side by side: ROUNDS rounds of a bare phase then a
 * gateway phase. Returns each server's summary and the per-round ratios of CPU per heartbeat.
 */
async function measurePair(lab: Lab, dir: string, agents: readonly Identity[], ticksPerSecond: number): Promise<{ results: RunResult[]; ratios: number[] }> {
  const prepared: Prepared[] = [];
  try {
    for (const server of [BARE, GATEWAY]) prepared.push(await prepare(lab, dir, server, agents, ticksPerSecond));
    const [bare, gateway] = prepared as [Prepared, Prepared];
    const phases = new Map<Prepared, Phase[]>([[bare, []], [gateway, []]]);
    const ratios: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const b = await phase(lab, bare, ticksPerSecond);
      const g = await phase(lab, gateway, ticksPerSecond);
      phases.get(bare)?.push(b);
      phases.get(gateway)?.push(g);
      ratios.push(g.cpuMsPer1000 / b.cpuMsPer1000);
      say(`round ${r}/${ROUNDS}: CPU ms / 1,000 heartbeats bare ${formatNumber(b.cpuMsPer1000, 1)}, gateway ${formatNumber(g.cpuMsPer1000, 1)}, ratio ${ratio(g.cpuMsPer1000, b.cpuMsPer1000)} (load average ${loadavg()[0]?.toFixed(1)})`);
    }
    const results = [await summarise(lab, bare, agents.length, phases.get(bare) ?? []), await summarise(lab, gateway, agents.length, phases.get(gateway) ?? [])];
    return { results, ratios };
  } finally {
    for (const p of prepared) await finish(p);
  }
}

function formatNumber(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
}

const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? (a / b).toFixed(2) : 'n/a');

/** The main table: one row per server per agent count. */
function resultTable(results: readonly RunResult[]): string {
  const rows = [
    '| agents | server | heartbeats/s ingested | sent/s | server CPU ms / 1,000 heartbeats | server CPU (% of a core) | heap KiB / connected agent | RSS KiB / connected agent | heap bytes kept / heartbeat |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    rows.push(
      `| ${formatNumber(r.agents)} | ${r.server} | ${formatNumber(r.ingestedPerSecond)} | ${formatNumber(r.sentPerSecond)} | ${formatNumber(r.cpuMsPer1000, 1)} | ${formatNumber(r.cpuPercent)} | ${formatNumber(r.heapKibPerAgent, 1)} | ${formatNumber(r.rssKibPerAgent, 1)} | ${formatNumber(r.retainedBytesPerHeartbeat)} |`,
    );
  }
  return rows.join('\n');
}

/** Gateway over baseline, per agent count: CPU per heartbeat as the median of the rounds' ratios (each gateway phase over the bare phase just before it). */
function ratioTable(results: readonly RunResult[], ratios: ReadonlyMap<number, readonly number[]>): string {
  const rows = [
    '| agents | CPU per 1,000 heartbeats: gateway / bare, median of rounds (range) | rounds\' ratios | bare CPU ms / 1,000 per phase | gateway CPU ms / 1,000 per phase | heartbeats/s ingested: gateway / bare | heap per connected agent: gateway / bare | RSS per connected agent: gateway / bare |',
    '|---:|---:|---|---|---|---:|---:|---:|',
  ];
  const list = (xs: readonly number[], digits: number): string => xs.map((x) => formatNumber(x, digits)).join(', ');
  for (const n of new Set(results.map((r) => r.agents))) {
    const g = results.find((r) => r.agents === n && r.server === GATEWAY);
    const b = results.find((r) => r.agents === n && r.server === BARE);
    const rs = ratios.get(n) ?? [];
    if (!g || !b || rs.length === 0) continue;
    rows.push(
      `| ${formatNumber(n)} | **${formatNumber(median(rs), 2)}** (${formatNumber(Math.min(...rs), 2)}–${formatNumber(Math.max(...rs), 2)}) | ${list(rs, 2)} | ${list(b.cpuMsPer1000Phases, 1)} | ${list(g.cpuMsPer1000Phases, 1)} | ${ratio(g.ingestedPerSecond, b.ingestedPerSecond)} | ${ratio(g.heapKibPerAgent, b.heapKibPerAgent)} | ${ratio(g.rssKibPerAgent, b.rssKibPerAgent)} |`,
    );
  }
  return rows.join('\n');
}

/** What proves a run valid, and what else it cost: start-up, handshakes, responsiveness, the load generator's own headroom. */
function detailTable(results: readonly RunResult[]): string {
  const rows = [
    '| agents | server | connected at end | heartbeats lost | closes / errors / server warnings | start-up s | connect s (handshakes/s) | server CPU ms / handshake | idle RSS MiB | GET /v1/agent p50 / max ms | load-gen CPU % | load-gen max lag ms | unsent bytes |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    rows.push(
      `| ${formatNumber(r.agents)} | ${r.server} | ${formatNumber(r.connected)} | ${formatNumber(r.lost)} | ${r.closes} / ${r.errors} / ${r.warnings} | ${formatNumber(r.startupSeconds, 1)} | ${formatNumber(r.connectSeconds, 1)} (${formatNumber(r.agents / r.connectSeconds)}) | ${formatNumber(r.cpuMsPerHandshake, 2)} | ${formatNumber(r.idleRssMiB)} | ${formatNumber(r.probeP50Ms, 1)} / ${formatNumber(r.probeMaxMs, 1)}${r.probeFailures > 0 ? ` (${r.probeFailures} failed)` : ''} | ${formatNumber(r.loadCpuPercent)} | ${formatNumber(r.loadMaxLagMs)} | ${formatNumber(r.backlogBytes)} |`,
    );
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/agents needs root (it creates network namespaces)');
  const dir = mkdtempSync(join(tmpdir(), 'hypha-bench-agents-'));
  teardown.add(() => {
    if (process.env.HYPHA_KEEP_LAB === '1') say(`logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  const name = `bag${process.pid % 1000}`;
  say(`lab ${name} (namespaces ${namespaceName(name, '*')}) in ${dir}`);
  const lab = await createLab(name);
  const ticksPerSecond = Number((await runIn(lab.gatewayNs, 'getconf', ['CLK_TCK'])).trim()) || 100;
  const identities = Array.from({ length: Math.max(...AGENT_COUNTS) }, () => newIdentity());

  const results: RunResult[] = [];
  const ratios = new Map<number, number[]>();
  const failures: string[] = [];
  const loadAtStart = loadavg()[0] ?? NaN;
  for (const n of AGENT_COUNTS) {
    say(`${n} agents against each server, ${ROUNDS} rounds`);
    try {
      const pair = await measurePair(lab, dir, identities.slice(0, n), ticksPerSecond);
      results.push(...pair.results);
      ratios.set(n, pair.ratios);
      say(`${n} agents: CPU per 1,000 heartbeats gateway / bare, median of ${ROUNDS} rounds: ${formatNumber(median(pair.ratios), 2)}`);
    } catch (err) {
      if (teardown.started) throw err;
      failures.push(`${n} agents: ${errorMessage(err)}`);
      say(`FAILED: ${errorMessage(err)}`);
    }
  }

  const cpu = cpus();
  const lines = [
    `machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, node ${process.version}; load average ${loadAtStart.toFixed(1)} at start, ${(loadavg()[0] ?? NaN).toFixed(1)} at end`,
    `each agent: real handshake (ed25519-signed hello), then 1 hash-chained heartbeat / ${HEARTBEAT_INTERVAL_MS / 1000} s with 1 node and ${VMS} VMs, slots spread over the second; ${PROCESSES} load-generator process(es) per server in the farm's namespace; both servers up side by side, ${ROUNDS} rounds of a bare phase then a gateway phase (only one server's agents beat at a time), each a ${WINDOW_SECONDS} s window after ${SETTLE_SECONDS} s settling, per-server figures the median of its phases; ingested = the server's own count (gateway: hypha_heartbeats_total); CPU from /proc/PID/stat; per connected agent = (with all connected, before any heartbeat - idle) / agents, heap after a full GC (over the inspector) and RSS; heap kept / heartbeat = live heap growth from then to the end / heartbeats ingested; lost = sent - ingested over the whole run, after the last phase paused and the server drained ${DRAIN_MS / 1000} s`,
    '',
    resultTable(results),
    '',
    ratioTable(results, ratios),
    '',
    detailTable(results),
  ];
  if (results.some((r) => Number.isNaN(r.ingestedPerSecond))) lines.push('', 'n/a: the server did not answer its count (GET /metrics or /count) within 30 s: saturated (see its CPU % and the unsent bytes)');
  if (results.some((r) => r.crossedHour)) lines.push('', 'note: a window crossed an hour boundary, so a billing period closed during it (persist + acks)');
  if (results.some((r) => r.lost !== 0)) lines.push('', 'a run lost heartbeats: its CPU per 1,000 heartbeats uses the server\'s own count');
  if (results.some((r) => r.closes > 0 || r.connected < r.agents)) lines.push('', `connections lost during a run: ${results.flatMap((r) => r.closeReasons).slice(0, 5).join('; ')}`);
  if (failures.length > 0) lines.push('', 'failed runs:', ...failures.map((f) => `- ${f}`));
  process.stdout.write(lines.join('\n') + '\n');
  if (results.length === 0) process.exitCode = 1;
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench/agents: ${errorMessage(err)}\n`);
  process.exitCode = 1;
} finally {
  await teardown.run();
}
