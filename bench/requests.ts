// bench/requests: p50/p99 of a customer's requests on the real gateway, embedded store against PostgreSQL in one run (two labs, rounds alternating).
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../src/identity/error-message.js';
import { actorOf } from '../src/lab/lab.js';
import { labFund } from '../src/lab/lab-fund.js';
import type { LabActor, LabState } from '../src/lab/lab-state.js';
import { parsePositiveAmount } from '../src/protocol/money.js';
import { median, percentile } from './measure.js';
import { cpuSeconds, firstWarnings, postgresCpuSeconds } from './processes.js';
import type { LoadOutcome, LoadPlan, MixEntry } from './requests-load.js';
import { BenchCommands, HYPHA_BIN, ROOT, type BenchLab, type RunOptions, type RunResult } from './lab-commands.js';
import { positiveIntegerOption, Teardown } from './teardown.js';

const LOAD_DRIVER = join(ROOT, 'dist', 'bench', 'requests-load.js');

const USAGE = 'usage: node dist/bench/requests.js [--rounds N (7)] [--seconds S (5)] [--connections C (8)] [--orders K placed per round (3)] [--hour S (4)] [--receipts R before the load (6)]';
const { values: options } = parseArgs({ options: { rounds: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' }, orders: { type: 'string' }, hour: { type: 'string' }, receipts: { type: 'string' } } });
const opt = (name: string, text: string | undefined, fallback: number): number => positiveIntegerOption('bench/requests', USAGE, name, text, fallback);
const ROUNDS = opt('rounds', options.rounds, 7);
const SECONDS = opt('seconds', options.seconds, 5);
const CONNECTIONS = opt('connections', options.connections, 8);
const ORDERS_PER_ROUND = opt('orders', options.orders, 3);
const HOUR_SECONDS = opt('hour', options.hour, 4);
const RECEIPTS = opt('receipts', options.receipts, 6);

type Backend = 'embedded' | 'postgres';
const BACKENDS: readonly Backend[] = ['embedded', 'postgres'];

/** One lab, set up: its state, alice, and what her mix asks for. */
interface Lab {
  readonly backend: Backend;
  readonly dir: string;
  readonly state: LabState;
  readonly alice: LabActor;
  readonly mix: MixEntry[];
  readonly order: MixEntry;
}

/** One round on one backend. */
interface Round {
  readonly outcome: LoadOutcome;
  /** Gateway CPU per request of the concurrent phase (µs), from /proc. */
  readonly gatewayCpuMicros: number;
  /** PostgreSQL server CPU per request (µs): postmaster and backends; 0 for embedded. */
  readonly serverCpuMicros: number;
}

const say = (line: string): boolean => process.stderr.write(`bench/requests: ${line}\n`);
const teardown: Teardown = new Teardown('bench/requests', (): void => commands.stopAll());
const commands: BenchCommands = new BenchCommands('bench/requests', teardown);
const run = (cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> => commands.run(cmd, args, options);

/** curl from `actor` to the lab's gateway; answers the status and the parsed JSON object. */
async function curl(state: LabState, actor: LabActor, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await commands.curl(actor, method, `${state.gateway.url}${path}`, body);
  if (typeof r.json !== 'object' || r.json === null) throw new Error(`${method} ${path}: ${r.status}, not a JSON object: ${r.text.slice(0, 200)}`);
  return { status: r.status, json: r.json as Record<string, unknown> };
}

/** Polls `probe` every half second until it answers something, for at most `seconds`. */
async function until<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Brings a lab up on `backend`, with alice's request bucket and the order caps lifted (the bench measures the requests, not 429s). */
function labUp(backend: Backend): Promise<BenchLab> {
  const gatewayConfig = {
    http: { linkedRequestsPerMinute: 10_000_000 },
    // The lab's own orders block (src/lab/lab.ts), with room for the orders the bench places.
    orders: { checkIntervalSeconds: 0.2, expireAfterHours: 720, maxUnpaid: 10_000, maxPerWindow: 10_000, historyPerCustomer: 10_000 },
  };
  say(`${backend}: bringing a lab up`);
  return commands.labUp('br', ['--hour', String(HOUR_SECONDS), '--store', backend, '--gateway-config', JSON.stringify(gatewayConfig)], 180_000);
}

/** Links alice and the admin, places and pays an order, waits for its deployment and `RECEIPTS` receipts; answers her mix. */
async function setUp(backend: Backend, dir: string, state: LabState): Promise<Lab> {
  for (const who of ['alice', 'admin']) {
    const r = await run(process.execPath, [HYPHA_BIN, 'lab', 'link', who, '--dir', dir]);
    if (r.code !== 0) throw new Error(`${backend}: hypha lab link ${who} failed: ${r.stderr.trim()}`);
  }
  const alice = actorOf(state, 'alice');
  const keyFile = join(dir, 'bench-ssh');
  const keygen = await run('ssh-keygen', ['-t', 'ed25519', '-N', '', '-q', '-C', 'bench', '-f', keyFile]);
  if (keygen.code !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr.trim()}`);
  const orderBody = { offer: 'small', sshKeys: [readFileSync(`${keyFile}.pub`, 'utf8').trim()] };
  const placed = await curl(state, alice, 'POST', '/v1/orders', orderBody);
  const order = placed.json.order as { id?: string; deposit?: string } | undefined;
  if (placed.status !== 201 || order?.id === undefined || order.deposit === undefined) throw new Error(`${backend}: ordering failed: ${placed.status} ${JSON.stringify(placed.json)}`);
  // Many deposits: the deployment must not run out of funds (and go into grace) during the run.
  await labFund(dir, 'alice', parsePositiveAmount('deposit', order.deposit) * 1000n);
  const deployment = await until(`${backend}: the order to be active`, 120, async () => {
    const o = (await curl(state, alice, 'GET', `/v1/orders/${order.id}`)).json.order as { state?: string; failure?: string; deployment?: { id?: string } } | undefined;
    if (o?.state === 'failed') throw new Error(`${backend}: the order failed: ${o.failure}`);
    return o?.state === 'active' ? o.deployment?.id : undefined;
  });
  say(`${backend}: deployment ${deployment} active; waiting for ${RECEIPTS} receipts (${RECEIPTS * HOUR_SECONDS} s or so)`);
  await until(`${backend}: ${RECEIPTS} receipts`, RECEIPTS * HOUR_SECONDS * 4 + 60, async () => {
    const r = await curl(state, alice, 'GET', `/v1/receipts?deployment=${deployment}`);
    return ((r.json.receipts as unknown[] | undefined)?.length ?? 0) >= RECEIPTS ? true : undefined;
  });
  const mix: MixEntry[] = [
    { kind: 'GET /v1/whoami', method: 'GET', path: '/v1/whoami' },
    { kind: 'GET /v1/orders', method: 'GET', path: '/v1/orders' },
    { kind: 'GET /v1/deployments/:id', method: 'GET', path: `/v1/deployments/${deployment}` },
    { kind: 'GET /v1/receipts (page)', method: 'GET', path: `/v1/receipts?deployment=${deployment}&limit=20` },
  ];
  return { backend, dir, state, alice, mix, order: { kind: 'POST /v1/orders', method: 'POST', path: '/v1/orders', body: orderBody } };
}

/** One round on one lab: the mix from alice's namespace, then `ORDERS_PER_ROUND` orders placed one by one. */
async function round(lab: Lab, ticksPerSecond: number): Promise<Round> {
  const plan: LoadPlan = { base: lab.state.gateway.url, connections: CONNECTIONS, seconds: SECONDS, mix: lab.mix, sequential: Array.from({ length: ORDERS_PER_ROUND }, () => lab.order) };
  const pgData = join(lab.dir, 'postgres', 'data');
  const gatewayBefore = cpuSeconds(lab.state.gateway.pid, ticksPerSecond);
  const serverBefore = lab.backend === 'postgres' ? postgresCpuSeconds(pgData, ticksPerSecond) : 0;
  const r = await run('ip', ['netns', 'exec', lab.alice.ns, process.execPath, LOAD_DRIVER, JSON.stringify(plan)], { timeoutMs: (SECONDS + 120) * 1000 });
  const gatewayUsed = cpuSeconds(lab.state.gateway.pid, ticksPerSecond) - gatewayBefore;
  const serverUsed = lab.backend === 'postgres' ? postgresCpuSeconds(pgData, ticksPerSecond) - serverBefore : 0;
  if (r.code !== 0) throw new Error(`${lab.backend}: the load driver failed (${r.code}): ${r.stderr.trim()}`);
  const outcome = JSON.parse(r.stdout) as LoadOutcome;
  // Reported, not fatal: a failure on one backend is a finding (the table counts them, the gateway's log says why).
  for (const [kind, k] of [...Object.entries(outcome.kinds), ...Object.entries(outcome.sequential)]) {
    if (k.failures > 0) say(`${lab.backend}: ${k.failures} of ${k.latenciesMs.length} ${kind} were not 2xx; the first: ${k.firstFailure}`);
  }
  const requests = Object.values(outcome.kinds).reduce((n, k) => n + k.latenciesMs.length, 0) + ORDERS_PER_ROUND;
  return { outcome, gatewayCpuMicros: (gatewayUsed * 1e6) / requests, serverCpuMicros: (serverUsed * 1e6) / requests };
}

const fmt = (n: number, digits = 1): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The Markdown tables: per kind (all rounds pooled) and per round's whole mix (median of rounds), both backends side by side. */
function report(results: Map<Backend, Round[]>): string {
  const emb = results.get('embedded') ?? [];
  const pg = results.get('postgres') ?? [];
  const pooled = (rounds: Round[], kind: string, sequential: boolean): number[] => rounds.flatMap((r) => (sequential ? r.outcome.sequential : r.outcome.kinds)[kind]?.latenciesMs ?? []);
  const kinds = Object.keys(emb[0]?.outcome.kinds ?? {});
  const failures = (rounds: Round[], kind: string, sequential: boolean): number => rounds.reduce((n, r) => n + ((sequential ? r.outcome.sequential : r.outcome.kinds)[kind]?.failures ?? 0), 0);
  const lines = ['| request | n (emb / PG) | not 2xx (emb / PG) | embedded p50 (ms) | p99 (ms) | PostgreSQL p50 (ms) | p99 (ms) | p50 PG / emb | p99 PG / emb |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|'];
  const row = (name: string, e: number[], p: number[], failed: string): void => {
    const [e50, e99, p50, p99] = [percentile(e, 50), percentile(e, 99), percentile(p, 50), percentile(p, 99)];
    lines.push(`| ${name} | ${e.length} / ${p.length} | ${failed} | ${fmt(e50)} | ${fmt(e99)} | ${fmt(p50)} | ${fmt(p99)} | ${(p50 / e50).toFixed(2)} | ${(p99 / e99).toFixed(2)} |`);
  };
  const failed = (kinds: readonly string[], sequential: boolean): string => `${kinds.reduce((n, k) => n + failures(emb, k, sequential), 0)} / ${kinds.reduce((n, k) => n + failures(pg, k, sequential), 0)}`;
  for (const kind of kinds) row(kind, pooled(emb, kind, false), pooled(pg, kind, false), failed([kind], false));
  row('the whole mix', kinds.flatMap((k) => pooled(emb, k, false)), kinds.flatMap((k) => pooled(pg, k, false)), failed(kinds, false));
  row('POST /v1/orders (one at a time, after each round)', pooled(emb, 'POST /v1/orders', true), pooled(pg, 'POST /v1/orders', true), failed(['POST /v1/orders'], true));
  const perRound = (rounds: Round[], pick: (r: Round) => number): number => median(rounds.map(pick));
  const mixP = (r: Round, p: number): number => percentile(Object.values(r.outcome.kinds).flatMap((k) => k.latenciesMs), p);
  lines.push(
    '',
    '| per round, median of the rounds | embedded | PostgreSQL | PG / emb |',
    '|---|---:|---:|---:|',
    ...(
      [
        ['mix p50 (ms)', (r: Round) => mixP(r, 50)],
        ['mix p99 (ms)', (r: Round) => mixP(r, 99)],
        ['requests/s', (r: Round) => r.outcome.requestsPerSecond],
        ['gateway CPU µs/request', (r: Round) => r.gatewayCpuMicros],
        ['PostgreSQL server CPU µs/request', (r: Round) => r.serverCpuMicros],
      ] as const
    ).map(([name, pick]) => {
      const e = perRound(emb, pick);
      const p = perRound(pg, pick);
      return `| ${name} | ${fmt(e)} | ${fmt(p)} | ${e === 0 ? '–' : (p / e).toFixed(2)} |`;
    }),
    '',
    `per round, mix p99 (ms): embedded ${emb.map((r) => fmt(mixP(r, 99))).join(', ')}; PostgreSQL ${pg.map((r) => fmt(mixP(r, 99))).join(', ')}`,
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const ticksPerSecond = Number((await run('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
  const labs: Lab[] = [];
  // One after the other: two lab starts at once on two shared cores time out.
  for (const backend of BACKENDS) {
    const { dir, state } = await labUp(backend);
    labs.push(await setUp(backend, dir, state));
  }
  const results = new Map<Backend, Round[]>(BACKENDS.map((b) => [b, []]));
  say(`warm-up, ${SECONDS} s each`);
  for (const lab of labs) await round(lab, ticksPerSecond);
  for (let i = 1; i <= ROUNDS; i++) {
    // ABBA: a load that rises or falls across a pair does not always favour one backend.
    for (const lab of i % 2 === 1 ? labs : [...labs].reverse()) {
      say(`round ${i}/${ROUNDS}: ${lab.backend}`);
      results.get(lab.backend)?.push(await round(lab, ticksPerSecond));
    }
  }
  for (const lab of labs) {
    const errors = firstWarnings(join(lab.dir, 'logs', 'gateway.log'), 5);
    if (errors.length > 0) say(`${lab.backend}: the gateway logged (first ${errors.length} warnings or errors):\n  ${errors.join('\n  ')}`);
  }
  const cpu = cpus();
  process.stdout.write(
    [
      `machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, node ${process.version}, load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
      `alice (linked, one active deployment with ≥ ${RECEIPTS} receipts, lab hour ${HOUR_SECONDS} s) from her namespace, ${CONNECTIONS} keep-alive connections each cycling whoami → orders → deployment → receipts page for ${SECONDS} s, then ${ORDERS_PER_ROUND} orders placed one at a time; ${ROUNDS} rounds per backend, alternating (ABBA) after a warm-up; both labs up the whole run; every answer 2xx`,
      '',
      report(results),
    ].join('\n') + '\n',
  );
}

try {
  await main();
} catch (err) {
  say(errorMessage(err));
  process.exitCode = 1;
} finally {
  await teardown.run();
}
