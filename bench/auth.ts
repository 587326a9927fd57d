// bench/auth: the cost of source-address authentication — authenticated GET /v1/whoami on a real lab gateway against a bare Koa hello-world on the same kind of address.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../src/identity/error-message.js';
import { loadKeyFile, sign, toBase64, utf8 } from '../src/identity/index.js';
import { actorOf } from '../src/lab/lab.js';
import { readLabState, type LabActor, type LabState } from '../src/lab/lab-state.js';
import { BenchCommands, HYPHA_BIN, ROOT } from './lab-commands.js';
import { median, medianInterval, percentile } from './measure.js';
import { positiveIntegerOption, Teardown } from './teardown.js';
import { cpuNanos, cpuSeconds, stopProcess, waitForLine, type Started } from './processes.js';
import { productionBackground } from './production-background.js';

const BARE_SERVER = join(ROOT, 'dist', 'bench', 'bare-koa-server.js');
const AUTOCANNON = join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');
const LOADER = join(ROOT, 'dist', 'bench', 'auth-loader.js');
/** GNU time: autocannon's own CPU time, whatever namespace it runs in. */
const TIME = '/usr/bin/time';

const USAGE = 'usage: node dist/bench/auth.js [--rounds N (9)] [--seconds S (3)] [--connections C (32)] [--hour S (3600: the lab\'s billed hour, long so its background work stays out of the rounds)] [--profile DIR (the gateway\'s --cpu-prof there, bare Koa\'s in DIR/bare)] [--lab-rates (keep the lab\'s compressed heartbeats, billing and order ticks: the bench before 2026-11-28 22:00)] [--pinned-rounds N (20: the pinned CPU rounds after the others; 0 skips them)] [--pinned-seconds S (2)]';
const { values: options } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' }, hour: { type: 'string' }, profile: { type: 'string' }, 'lab-rates': { type: 'boolean' }, 'pinned-rounds': { type: 'string' }, 'pinned-seconds': { type: 'string' } } });
/** Many short rounds, alternating: on a shared machine the load moves within seconds, and a round pair sees the same load. */
const ROUNDS = positiveInteger('rounds', options.rounds, 9);
const SECONDS = positiveInteger('seconds', options.seconds, 3);
const CONNECTIONS = positiveInteger('connections', options.connections, 32);
const HOUR_SECONDS = positiveInteger('hour', options.hour, 3600);
const PROFILE_DIR = options.profile;
/**
 * The pinned rounds (see pinnedRounds): many short ABBA rounds with both servers on one core and
 * the load generator on the other, each server's CPU per request read in nanoseconds. 0 skips them
 * (and --profile does: the profiler's own thread would be counted).
 */
const PINNED_ROUNDS = options['pinned-rounds'] === '0' ? 0 : positiveInteger('pinned-rounds', options['pinned-rounds'], 20);
const PINNED_SECONDS = positiveInteger('pinned-seconds', options['pinned-seconds'], 2);
/** The core both servers share in the pinned rounds, and the load generator's. */
const SERVER_CORE = 0;
const LOADER_CORE = 1;
/**
 * Whether the gateway and agents keep the lab's compressed background (heartbeats and billing ticks
 * every 100 ms, order checks every 200 ms, whatever --hour says). By default they run at the rates a
 * deployed gateway does (production-background.ts): the issue compares a gateway's request path
 * with bare Koa's, not a lab's 50–150× faster clock.
 */
const LAB_RATES = options['lab-rates'] === true;
const WARMUP_SECONDS = 2;
/** How long each server's CPU is read with no load before each of its runs. */
const IDLE_SECONDS = 1;
/** The baseline's port: next to the gateway's 8480, on the gateway's own address. */
const BARE_PORT = 8481;
/** The aim (issue 14): whoami answers at least this share of bare Koa's requests per second. */
const AIM_RATIO = 0.95;

const BARE = 'bare Koa hello-world';
const GATEWAY = 'hypha GET /v1/whoami (alice, linked)';

/** One autocannon run, reduced to what the table shows and what proves it valid. */
interface LoadResult {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly total: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** The server process's user + system CPU time per request, from /proc: its cost, whatever the load generator could push. */
  readonly serverCpuMicrosPerRequest: number;
  /**
   * The same, less what the server spends on its own when no request comes (measured for
   * IDLE_SECONDS just before the run): the lab gateway heartbeats with three agents and ticks its
   * billing every 100 ms, work that is not the request's and that a slow round spreads over fewer requests.
   */
  readonly netCpuMicrosPerRequest: number;
  /** The server's CPU with no request coming (ms per second), read just before the run: its background work. */
  readonly idleCpuMsPerSecond: number;
  /** autocannon's own user + system CPU per request: the load generator shares the 2 cores, and pays more for a longer answer. */
  readonly loaderCpuMicrosPerRequest: number;
}

/** One server under test: where to send load, and its process (to read its CPU time). */
interface Target {
  readonly url: string;
  readonly pid: number;
}

const teardown: Teardown = new Teardown('bench/auth', (): void => commands.stopAll());
const commands: BenchCommands = new BenchCommands('bench/auth', teardown);
/** curl's --max-time for the set-up requests (linking alice, the bare Koa check). */
const CURL_MAX_SECONDS = 10;

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  return positiveIntegerOption('bench/auth', USAGE, name, text, fallback);
}

/** Links alice's /64 to her Unyt key (challenge, sign, link), and checks that whoami says so. */
async function linkAlice(state: LabState, alice: LabActor): Promise<void> {
  const gw = state.gateway.url;
  const identity = loadKeyFile(alice.key);
  const challenge = await commands.curl(alice, 'POST', `${gw}/v1/link/challenge`, { agent: identity.agent }, CURL_MAX_SECONDS);
  const { nonce, statement } = challenge.json as { nonce?: unknown; statement?: unknown };
  if (challenge.status !== 201 || typeof nonce !== 'string' || typeof statement !== 'string') {
    throw new Error(`link.challenge: expected 201 with a nonce and statement, got ${challenge.status} ${JSON.stringify(challenge.json)}`);
  }
  const signature = toBase64(sign(identity.secretKey, utf8(statement)));
  const link = await commands.curl(alice, 'POST', `${gw}/v1/link`, { agent: identity.agent, nonce, signature }, CURL_MAX_SECONDS);
  if (link.status !== 201 && link.status !== 200) throw new Error(`link: expected 201, got ${link.status} ${JSON.stringify(link.json)}`);
  const whoami = await commands.curl(alice, 'GET', `${gw}/v1/whoami`, undefined, CURL_MAX_SECONDS);
  const me = whoami.json as { linked?: unknown; agent?: unknown };
  if (whoami.status !== 200 || me.linked !== true || me.agent !== identity.agent) {
    throw new Error(`whoami after linking: expected linked to ${identity.agent}, got ${whoami.status} ${JSON.stringify(whoami.json)}`);
  }
}

/** Starts the bare Koa server in the gateway's namespace on the gateway's address (its log in the lab folder `dir`); resolves once it listens. */
async function startBareServer(gateway: LabActor, dir: string): Promise<Target> {
  if (teardown.started) throw new Error('interrupted before starting bare-koa-server');
  // Under --profile the baseline is profiled too (in DIR/bare), so the two profiles can be compared per request.
  const profile = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, 'bare')}`];
  const child = spawn('ip', ['netns', 'exec', gateway.ns, process.execPath, ...profile, BARE_SERVER, gateway.address, String(BARE_PORT)], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid === undefined) throw new Error('bare-koa-server: could not start');
  const bare: Started = { name: 'bare-koa-server', child, pid: child.pid, exited: new Promise((resolve) => child.once('exit', () => resolve())) };
  teardown.add(() => stopProcess(bare, 3000));
  await waitForLine(bare, 'bare-koa listening', 10_000, join(dir, 'bare-koa.log'));
  // `ip netns exec` execs the command, so this pid is node's own.
  return { url: `http://[${gateway.address}]:${BARE_PORT}`, pid: bare.pid };
}

/** Runs autocannon from alice's namespace against `target` for `seconds`. */
async function load(alice: LabActor, target: Target, seconds: number, ticksPerSecond: number, timesFile: string): Promise<LoadResult> {
  const url = target.url;
  const idleBefore = cpuSeconds(target.pid, ticksPerSecond);
  const idleStart = performance.now();
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
  const backgroundPerSecond = (cpuSeconds(target.pid, ticksPerSecond) - idleBefore) / ((performance.now() - idleStart) / 1000);
  const cpuBefore = cpuSeconds(target.pid, ticksPerSecond);
  const started = performance.now();
  // GNU time writes autocannon's user and system seconds to a file (its stdout is autocannon's JSON).
  const r = await commands.runAs(alice, TIME, ['-f', '%U %S', '-o', timesFile, process.execPath, AUTOCANNON, '--json', '-c', String(CONNECTIONS), '-d', String(seconds), url], { timeoutMs: (seconds + 30) * 1000 });
  const cpuUsed = cpuSeconds(target.pid, ticksPerSecond) - cpuBefore;
  const wallSeconds = (performance.now() - started) / 1000;
  if (r.code !== 0) throw new Error(`autocannon ${url} failed (${r.code}): ${r.stderr.trim()}`);
  const out = JSON.parse(r.stdout) as {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
    timeouts: number;
  };
  const perRequest = (cpu: number): number => (out.requests.total > 0 ? (cpu * 1e6) / out.requests.total : NaN);
  return {
    requestsPerSecond: out.requests.average,
    p50Ms: out.latency.p50,
    p99Ms: out.latency.p99,
    total: out.requests.total,
    non2xx: out.non2xx,
    errors: out.errors,
    timeouts: out.timeouts,
    serverCpuMicrosPerRequest: perRequest(cpuUsed),
    netCpuMicrosPerRequest: perRequest(Math.max(0, cpuUsed - backgroundPerSecond * wallSeconds)),
    idleCpuMsPerSecond: backgroundPerSecond * 1000,
    loaderCpuMicrosPerRequest: perRequest(loaderCpuSeconds(timesFile)),
  };
}

/** The user + system seconds GNU time wrote to `file` (format `%U %S`). */
function loaderCpuSeconds(file: string): number {
  const [user, system] = readFileSync(file, 'utf8').trim().split('\n').pop()?.split(' ').map(Number) ?? [];
  if (user === undefined || system === undefined || !Number.isFinite(user) || !Number.isFinite(system)) throw new Error(`${file}: no CPU times from ${TIME}`);
  return user + system;
}

/** Requests each server answered in this run, warm-up included: under --profile, a profile's self time divided by this is its cost per request. */
const answered = new Map<string, number>();

/** Fails the bench when a run got anything but 2xx: an unauthenticated or failing run measures nothing. */
function check(name: string, r: LoadResult): LoadResult {
  if (r.total === 0 || r.non2xx !== 0 || r.errors !== 0 || r.timeouts !== 0) {
    throw new Error(`${name}: ${r.total} requests, ${r.non2xx} not 2xx, ${r.errors} errors, ${r.timeouts} timeouts; every response must be 2xx`);
  }
  answered.set(name, (answered.get(name) ?? 0) + r.total);
  return r;
}

function formatNumber(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A Markdown table of each variant's medians and its requests/s ratio to the baseline. */
function resultTable(results: Map<string, LoadResult[]>, baseline: string): string {
  const base = median((results.get(baseline) ?? []).map((r) => r.requestsPerSecond));
  const rows = [`| variant | requests/s | p50 latency (ms) | p99 latency (ms) | server CPU µs/request | net of idle background | idle background ms/s | autocannon CPU µs/request | ratio to ${baseline} |`, '|---|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const [name, runs] of results) {
    const rps = median(runs.map((r) => r.requestsPerSecond));
    const p50 = median(runs.map((r) => r.p50Ms));
    const p99 = median(runs.map((r) => r.p99Ms));
    const cpu = median(runs.map((r) => r.serverCpuMicrosPerRequest));
    const net = median(runs.map((r) => r.netCpuMicrosPerRequest));
    const idle = median(runs.map((r) => r.idleCpuMsPerSecond));
    const loader = median(runs.map((r) => r.loaderCpuMicrosPerRequest));
    rows.push(`| ${name} | ${formatNumber(rps)} | ${formatNumber(p50, 1)} | ${formatNumber(p99, 1)} | ${formatNumber(cpu, 1)} | ${formatNumber(net, 1)} | ${formatNumber(idle, 1)} | ${formatNumber(loader, 1)} | ${(rps / base).toFixed(2)} |`);
  }
  return rows.join('\n');
}

/**
 * Starts the lab's gateway by hand with `--cpu-prof` (Node refuses it in NODE_OPTIONS), with the
 * command and environment `hypha lab start` gives it; the profile is written when it exits.
 */
async function startProfiledGateway(dir: string, state: LabState, profileDir: string): Promise<number> {
  const gateway = actorOf(state, 'gateway');
  if (!gateway.command || !gateway.log) throw new Error('the lab gateway has no command to start');
  const log = gateway.log;
  const args = ['netns', 'exec', gateway.ns, process.execPath, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, HYPHA_BIN, ...gateway.command];
  const from = readFileSync(log).length;
  // Its log goes where the lab's would (the gateway logs to stdout): the lab's readiness line is read from there.
  const fd = openSync(log, 'a', 0o600);
  const child = spawn('ip', args, { stdio: ['ignore', fd, fd], detached: true, env: { ...process.env, HYPHA_LAB: '1', HYPHA_LAB_STATE: join(dir, 'lab.json') } });
  closeSync(fd);
  if (child.pid === undefined) throw new Error('profiled gateway: could not start');
  const profiled: Started = { name: 'profiled gateway', child, pid: child.pid, exited: new Promise((resolve) => child.once('exit', () => resolve())) };
  teardown.add(async () => {
    await stopProcess(profiled, 20_000);
    process.stderr.write(`bench/auth: gateway CPU profile written to ${profileDir}\n`);
  });
  const deadline = Date.now() + 60_000;
  while (!readFileSync(log).subarray(from).toString('utf8').includes('gateway listening')) {
    if (child.exitCode !== null) throw new Error(`the profiled gateway exited (${child.exitCode}); see ${log}`);
    if (Date.now() > deadline) throw new Error(`the profiled gateway is not listening after 60 s; see ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return child.pid;
}

/**
 * A restarted gateway is settled when SETTLED_SECONDS seconds in a row with no request each cost it
 * less than this (ms of CPU; /proc counts 10 ms ticks; at production rates its background is ~5 ms/s,
 * at the lab's own ~30 ms/s).
 */
const SETTLED_MS_PER_SECOND = LAB_RATES ? 60 : 20;
/** Under --profile the profiler's sampling thread costs 40–180 ms/s of its own, so /proc cannot tell: a fixed wait instead. */
const PROFILED_SETTLE_SECONDS = 15;
const SETTLED_SECONDS = 3;
/** …and the bench waits at most this long for it. */
const SETTLE_MAX_SECONDS = 60;

/**
 * Waits until the restarted gateway is idle: its start-up (JIT, the agents reconnecting, the first
 * billing close after a restart) is not the request path, and a deployed gateway is long past it.
 * Prints each second's CPU, so a gateway that never settles is seen in the output.
 */
async function settle(pid: number, ticksPerSecond: number): Promise<void> {
  if (PROFILE_DIR !== undefined) {
    process.stderr.write(`bench/auth: under --profile, waiting ${PROFILED_SETTLE_SECONDS} s for the gateway to settle\n`);
    await new Promise((resolve) => setTimeout(resolve, PROFILED_SETTLE_SECONDS * 1000));
    return;
  }
  const seen: string[] = [];
  let quiet = 0;
  for (let s = 0; s < SETTLE_MAX_SECONDS && quiet < SETTLED_SECONDS; s++) {
    const before = cpuSeconds(pid, ticksPerSecond);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const ms = (cpuSeconds(pid, ticksPerSecond) - before) * 1000;
    seen.push(ms.toFixed(0));
    quiet = ms < SETTLED_MS_PER_SECOND ? quiet + 1 : 0;
  }
  process.stderr.write(`bench/auth: the gateway's idle CPU, ms per second, until settled (${SETTLED_SECONDS} s in a row < ${SETTLED_MS_PER_SECOND}): ${seen.join(', ')}\n`);
}

/** One round's pair: the gateway's requests/s and CPU per request as shares of bare Koa's in the same round. */
interface RoundRatio {
  readonly requests: number;
  readonly cpu: number;
  readonly netCpu: number;
}

/** The pinned rounds' load generator: bench/auth-loader.js in alice's namespace on LOADER_CORE, one round per request line. */
interface Loader {
  round(url: string, seconds: number): Promise<LoaderRound>;
  stop(): Promise<void>;
}

/** What the loader answers for one round (bench/auth-loader.ts). */
interface LoaderRound {
  readonly total: number;
  readonly seconds: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly loaderCpuMicros: number;
}

/** Starts the loader in `alice`'s namespace, pinned to LOADER_CORE. */
function startLoader(alice: LabActor): Loader {
  const child = spawn('ip', ['netns', 'exec', alice.ns, 'taskset', '-c', String(LOADER_CORE), process.execPath, LOADER], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  if (child.pid === undefined) throw new Error('auth-loader: could not start');
  const started: Started = { name: 'auth-loader', child, pid: child.pid, exited: new Promise((resolve) => child.once('exit', () => resolve())) };
  teardown.add(() => stopProcess(started, 3000));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  const waiting: ((line: string) => void)[] = [];
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting.shift()?.(line);
    }
  });
  return {
    round: (url, seconds) =>
      new Promise<LoaderRound>((resolve, reject) => {
        const gone = (): void => reject(new Error(`auth-loader exited: ${stderr.trim()}`));
        void started.exited.then(gone);
        waiting.push((line) => resolve(JSON.parse(line) as LoaderRound));
        child.stdin.write(`${JSON.stringify({ url, seconds, connections: CONNECTIONS })}\n`);
      }),
    stop: () => stopProcess(started, 3000),
  };
}

/** One server's pinned round: requests/s and its CPU per request (µs, from schedstat's nanoseconds). */
interface PinnedRound {
  readonly requestsPerSecond: number;
  readonly cpuMicrosPerRequest: number;
  /** The server's CPU with no request coming, just before the round (ms per second). */
  readonly idleMsPerSecond: number;
  readonly wallSeconds: number;
  readonly total: number;
  readonly loaderCpuMicrosPerRequest: number;
}

/** How long both servers' idle CPU is read before each pinned round. */
const PINNED_IDLE_MS = 500;

/**
 * One pinned round: both servers' idle CPU for PINNED_IDLE_MS, then PINNED_SECONDS of load on both
 * AT ONCE (each from its own loader), every answer 2xx. Both are read over the same window on the
 * same core, so whatever slows that core (other processes, the VM's host) slows both alike.
 */
async function pinnedRound(targets: readonly (readonly [string, Target, Loader])[]): Promise<PinnedRound[]> {
  const idleFrom = targets.map(([, t]) => cpuNanos(t.pid));
  const idleStart = performance.now();
  await new Promise((resolve) => setTimeout(resolve, PINNED_IDLE_MS));
  const idleSeconds = (performance.now() - idleStart) / 1000;
  const idle = targets.map(([, t], i) => (cpuNanos(t.pid) - (idleFrom[i] as number)) / 1e6 / idleSeconds);
  const from = targets.map(([, t]) => cpuNanos(t.pid));
  const start = performance.now();
  const got = await Promise.all(targets.map(([, t, loader]) => loader.round(t.url, PINNED_SECONDS)));
  const used = targets.map(([, t], i) => cpuNanos(t.pid) - (from[i] as number));
  const wallSeconds = (performance.now() - start) / 1000;
  return got.map((r, i) => {
    const name = (targets[i] as readonly [string, Target, Loader])[0];
    if (r.total === 0 || r.non2xx !== 0 || r.errors !== 0 || r.timeouts !== 0) {
      throw new Error(`${name} (pinned): ${r.total} requests, ${r.non2xx} not 2xx, ${r.errors} errors, ${r.timeouts} timeouts; every response must be 2xx`);
    }
    return { requestsPerSecond: r.total / r.seconds, cpuMicrosPerRequest: (used[i] as number) / 1000 / r.total, idleMsPerSecond: idle[i] as number, wallSeconds, total: r.total, loaderCpuMicrosPerRequest: r.loaderCpuMicros / r.total };
  });
}

/** Sets every thread of `pid` to run on `core` only (taskset -a: Node's worker threads too). */
async function pin(pid: number, core: number): Promise<void> {
  const r = await commands.run('taskset', ['-a', '-c', '-p', String(core), String(pid)]);
  if (r.code !== 0) throw new Error(`taskset -p ${core} ${pid} failed (${r.code}): ${r.stderr.trim()}`);
}

/** "median (interquartile a–b; 95% interval of the median c–d)" of `values`, `digits` after the point. */
function spread(values: readonly number[], digits: number): string {
  const [lo, hi] = medianInterval(values);
  return `${median(values).toFixed(digits)} (interquartile ${percentile(values, 25).toFixed(digits)}–${percentile(values, 75).toFixed(digits)}; 95% interval of the median ${lo.toFixed(digits)}–${hi.toFixed(digits)})`;
}

/**
 * The pinned rounds: a figure that resolves a few percent on a shared machine. Requests per second
 * of rounds run one after the other move ±20–30% here, and so does CPU per request: on this VM a
 * core's speed itself changes from second to second (other processes, the host), and a slow second
 * costs both more CPU per request and fewer requests. So both servers share SERVER_CORE and are
 * loaded at the same time, each by its own long-lived autocannon on LOADER_CORE: each round reads
 * both servers' CPU (the scheduler's nanosecond counters, summed over threads) over the same
 * window on the same core, and the figure is the median of the rounds' ratios. While both are
 * busy the core's scheduler gives each half of it, so then requests/s ratio = 1 / CPU ratio; the
 * output prints both, so that can be checked.
 */
async function pinnedRounds(alice: LabActor, targets: readonly (readonly [string, Target])[]): Promise<string[]> {
  for (const [, target] of targets) await pin(target.pid, SERVER_CORE);
  const loaded = targets.map(([variant, target]) => [variant, target, startLoader(alice)] as const);
  const runs = new Map<string, PinnedRound[]>(targets.map(([variant]) => [variant, []]));
  // A warm-up round: the loaders' JIT and the servers' new sockets.
  await pinnedRound(loaded);
  for (let round = 1; round <= PINNED_ROUNDS; round++) {
    if (round % 10 === 1) process.stderr.write(`bench/auth: pinned rounds ${round}–${Math.min(round + 9, PINNED_ROUNDS)}/${PINNED_ROUNDS}\n`);
    const got = await pinnedRound(loaded);
    got.forEach((r, i) => runs.get((targets[i] as readonly [string, Target])[0])?.push(r));
  }
  for (const [, , loader] of loaded) await loader.stop();
  const bare = runs.get(BARE) ?? [];
  const gw = runs.get(GATEWAY) ?? [];
  // Net of idle: each server's median idle rate over the phase (one 15 s heartbeat in a 0.5 s window says little), times the round's wall time.
  const idle = new Map([...runs].map(([variant, rs]) => [variant, median(rs.map((r) => r.idleMsPerSecond))]));
  const net = (variant: string, r: PinnedRound): number => Math.max(0, r.cpuMicrosPerRequest - ((idle.get(variant) ?? 0) * 1000 * r.wallSeconds) / r.total);
  const cpuRatios = gw.map((g, i) => g.cpuMicrosPerRequest / (bare[i] as PinnedRound).cpuMicrosPerRequest);
  const netRatios = gw.map((g, i) => net(GATEWAY, g) / net(BARE, bare[i] as PinnedRound));
  const rpsRatios = gw.map((g, i) => g.requestsPerSecond / (bare[i] as PinnedRound).requestsPerSecond);
  const rows = ['| variant (pinned, loaded together) | requests/s | server CPU µs/request | net of idle | idle ms/s | loader CPU µs/request |', '|---|---:|---:|---:|---:|---:|'];
  for (const [variant, rs] of runs) {
    rows.push(`| ${variant} | ${formatNumber(median(rs.map((r) => r.requestsPerSecond)))} | ${formatNumber(median(rs.map((r) => r.cpuMicrosPerRequest)), 2)} | ${formatNumber(median(rs.map((r) => net(variant, r))), 2)} | ${formatNumber(idle.get(variant) ?? NaN, 1)} | ${formatNumber(median(rs.map((r) => r.loaderCpuMicrosPerRequest)), 2)} |`);
  }
  const cpuRatio = median(cpuRatios);
  const rpsRatio = median(rpsRatios);
  return [
    `pinned rounds: both servers on core ${SERVER_CORE} (taskset -a), loaded at the same time, each by its own long-lived autocannon (-c ${CONNECTIONS}) in alice's namespace on core ${LOADER_CORE}; ${PINNED_ROUNDS} rounds of ${PINNED_SECONDS} s after one warm-up round; server CPU from /proc/PID/task/*/schedstat (ns); load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    '',
    ...rows,
    '',
    `per pinned round (requests, server CPU µs/request): ${[...runs].map(([variant, rs]) => `${variant}: ${rs.map((r) => `${r.total} ${r.cpuMicrosPerRequest.toFixed(1)}`).join(', ')}`).join('; ')}`,
    `per pinned round, hypha / bare CPU per request: ${cpuRatios.map((r) => r.toFixed(3)).join(', ')}`,
    `per pinned round, hypha / bare requests/s: ${rpsRatios.map((r) => r.toFixed(3)).join(', ')}`,
    '',
    `pinned, median of the rounds' ratios: server CPU per request ${spread(cpuRatios, 3)}× bare Koa's; net of idle ${spread(netRatios, 3)}×; requests/s ${spread(rpsRatios, 3)}; 1 / CPU ratio = ${(1 / cpuRatio).toFixed(3)}, so requests/s ${Math.abs(rpsRatio * cpuRatio - 1) <= 0.03 ? 'follows' : 'does NOT follow'} CPU per request within 3%`,
  ];
}

async function main(): Promise<void> {
  const lab = await commands.labUp('ba', ['--hour', String(HOUR_SECONDS)], 120_000);
  const dir = lab.dir;
  // alice sends thousands of requests a second from one linked /64: lift her bucket (http.linkedRequestsPerMinute)
  // so the bench measures authentication, not 429s; the bucket's own cost per request stays in the path.
  const farmers = productionBackground(dir, lab.state, LAB_RATES, (config) => {
    config.http = { ...(config.http as Record<string, unknown> | undefined), linkedRequestsPerMinute: 10_000_000 };
  });
  let state = lab.state;
  let gatewayPid: number;
  if (PROFILE_DIR === undefined) {
    const restarted = await commands.run(process.execPath, [HYPHA_BIN, 'lab', 'restart', 'gateway', '--dir', dir], { timeoutMs: 60_000 });
    if (restarted.code !== 0) throw new Error(`hypha lab restart gateway failed (${restarted.code}): ${restarted.stderr.trim()}`);
    const restartedState = readLabState(dir);
    if (!restartedState) throw new Error(`lab.json vanished from ${dir}`);
    state = restartedState;
    gatewayPid = state.gateway.pid;
  } else {
    const stopped = await commands.run(process.execPath, [HYPHA_BIN, 'lab', 'stop', 'gateway', '--dir', dir], { timeoutMs: 60_000 });
    if (stopped.code !== 0) throw new Error(`hypha lab stop gateway failed (${stopped.code}): ${stopped.stderr.trim()}`);
    gatewayPid = await startProfiledGateway(dir, state, PROFILE_DIR);
  }
  // The agents read their (production-rate) heartbeat interval when they start; they reconnect to the restarted gateway.
  for (const farmer of farmers) {
    const restarted = await commands.run(process.execPath, [HYPHA_BIN, 'lab', 'restart', farmer, '--dir', dir], { timeoutMs: 60_000 });
    if (restarted.code !== 0) throw new Error(`hypha lab restart ${farmer} failed (${restarted.code}): ${restarted.stderr.trim()}`);
  }
  const alice = actorOf(state, 'alice');
  const gateway = actorOf(state, 'gateway');

  await linkAlice(state, alice);
  const ticksPerSecond = Number((await commands.run('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
  const timesFile = join(dir, 'autocannon-times.txt');
  const bare = await startBareServer(gateway, dir);
  const hello = await commands.curl(alice, 'GET', bare.url, undefined, CURL_MAX_SECONDS);
  if (hello.status !== 200 || (hello.json as { hello?: unknown } | undefined)?.hello !== 'world') throw new Error(`bare Koa answered ${hello.status} ${hello.text}`);

  const targets: readonly (readonly [string, Target])[] = [
    [BARE, bare],
    [GATEWAY, { url: `${state.gateway.url}/v1/whoami`, pid: gatewayPid }],
  ];
  await settle(gatewayPid, ticksPerSecond);
  process.stderr.write(`bench/auth: warm-up, ${WARMUP_SECONDS} s each\n`);
  for (const [variant, target] of targets) check(variant, await load(alice, target, WARMUP_SECONDS, ticksPerSecond, timesFile));
  const results = new Map<string, LoadResult[]>(targets.map(([variant]) => [variant, []]));
  const ratios: RoundRatio[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate which goes first (ABBA…), so a load that rises or falls across a round pair does not always favour one side.
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    const got = new Map<string, LoadResult>();
    for (const [variant, target] of order) {
      process.stderr.write(`bench/auth: round ${round}/${ROUNDS}: ${variant}\n`);
      const r = check(variant, await load(alice, target, SECONDS, ticksPerSecond, timesFile));
      results.get(variant)?.push(r);
      got.set(variant, r);
    }
    const b = got.get(BARE) as LoadResult;
    const g = got.get(GATEWAY) as LoadResult;
    ratios.push({ requests: g.requestsPerSecond / b.requestsPerSecond, cpu: g.serverCpuMicrosPerRequest / b.serverCpuMicrosPerRequest, netCpu: g.netCpuMicrosPerRequest / b.netCpuMicrosPerRequest });
  }

  const cpu = cpus();
  const requestRatio = median(ratios.map((r) => r.requests));
  const cpuRatio = median(ratios.map((r) => r.cpu));
  const netCpuRatio = median(ratios.map((r) => r.netCpu));
  const lines = [
    `machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, node ${process.version}, load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}${PROFILE_DIR === undefined ? '' : ' (gateway under --cpu-prof)'}`,
    `autocannon -c ${CONNECTIONS} -d ${SECONDS} from alice's namespace (her Mycelium address), both servers on the gateway's address in its namespace; ${ROUNDS} rounds, bare and hypha alternating (ABBA) after a ${WARMUP_SECONDS} s warm-up; lab hour ${HOUR_SECONDS} s; ${LAB_RATES ? "the lab's compressed background (--lab-rates: heartbeats and billing ticks every 100 ms, order checks every 200 ms)" : 'background at production rates (heartbeats every 15 s, billing tick 5 s, order check 10 s)'}; every response 2xx`,
    '',
    resultTable(results, BARE),
    '',
    `per round (requests/s, server CPU µs/request, net of idle): ${[...results].map(([variant, runs]) => `${variant}: ${runs.map((r) => `${formatNumber(r.requestsPerSecond)} (${formatNumber(r.serverCpuMicrosPerRequest, 1)}, ${formatNumber(r.netCpuMicrosPerRequest, 1)})`).join(', ')}`).join('; ')}`,
    `per round, hypha / bare requests/s: ${ratios.map((r) => r.requests.toFixed(2)).join(', ')}; CPU per request: ${ratios.map((r) => r.cpu.toFixed(2)).join(', ')}; net of idle: ${ratios.map((r) => r.netCpu.toFixed(2)).join(', ')}`,
    '',
    `median of the rounds' ratios: requests/s ${requestRatio.toFixed(2)} (aim ≥ ${AIM_RATIO}: ${requestRatio >= AIM_RATIO ? 'met' : 'NOT met'}), server CPU per request ${cpuRatio.toFixed(2)}× bare Koa's (${netCpuRatio.toFixed(2)}× net of idle background)`,
  ];
  if (PROFILE_DIR !== undefined) lines.push(`requests answered under the profiler, warm-up included: ${[...answered].map(([variant, n]) => `${variant}: ${n}`).join('; ')}`);
  process.stdout.write(lines.join('\n') + '\n');
  if (PINNED_ROUNDS > 0 && PROFILE_DIR === undefined && cpu.length >= 2) process.stdout.write(`\n${(await pinnedRounds(alice, targets)).join('\n')}\n`);
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench/auth: ${errorMessage(err)}\n`);
  process.exitCode = 1;
} finally {
  await teardown.run();
}
