// bench/soak: a bounded load run, quiet then under attack: simulated agents heartbeat and customers link, order and read receipts while an attacker floods offers, hellos and link challenges; legit latency and losses, compared.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { errorMessage } from '../src/identity/error-message.js';
import { newIdentity, sign, subnet64, toBase64, utf8, type Identity } from '../src/identity/index.js';
import { ScaledClock } from '../src/protocol/clock.js';
import { addLoopbackAddresses, privateNamespace, randomAddressIn, runInPrivateNamespace } from '../test/helpers/private-netns.js';
import { jsonRequest, type JsonAnswer, type Target } from '../test/helpers/source-http.js';
import { runCommand } from '../test/helpers/run.js';
import { SimAgent } from '../test/helpers/sim-agent.js';
import { percentile } from './measure.js';
import { cpuSeconds, firstWarnings, logMessagesStartingWith, stopProcess, waitForLine, warningsIn, type Started } from './processes.js';
import { summaryLine } from './soak-summary.js';
import { positiveIntegerOption, Teardown } from './teardown.js';
import type { AttackPlan, AttackSummary } from './soak-attacker.js';

/** The repository root (this file runs as dist/bench/soak.js). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HYPHA_BIN = join(ROOT, 'bin', 'hypha.js');
const ATTACKER = join(ROOT, 'dist', 'bench', 'soak-attacker.js');

const USAGE =
  'usage: node dist/bench/soak.js [--seconds S per phase (20)] [--agents N (50)] [--customers M per phase (10)] [--attack C concurrent attack loops (24)] [--hour S real seconds per billed hour (4)] [--hello signed|garbage (signed)] [--floods offers,hello,challenge (all three)] [--keep-log FILE (copy the gateway\'s log there)] [--profile DIR (the gateway\'s --cpu-prof there)]';
const { values: options } = parseArgs({
  options: { seconds: { type: 'string' }, agents: { type: 'string' }, customers: { type: 'string' }, attack: { type: 'string' }, hour: { type: 'string' }, hello: { type: 'string' }, floods: { type: 'string' }, 'keep-log': { type: 'string' }, profile: { type: 'string' } },
});
const int = (name: string, text: string | undefined, fallback: number): number => positiveIntegerOption('bench/soak', USAGE, name, text, fallback);
const SECONDS = int('seconds', options.seconds, 20);
const AGENTS = int('agents', options.agents, 50);
const CUSTOMERS = int('customers', options.customers, 10);
const ATTACK = int('attack', options.attack, 24);
const HOUR_SECONDS = int('hour', options.hour, 4);
const HELLO = options.hello ?? 'signed';
if (HELLO !== 'signed' && HELLO !== 'garbage') {
  process.stderr.write(`bench/soak: --hello must be signed or garbage\n${USAGE}\n`);
  process.exit(2);
}
const FLOODS = (options.floods ?? 'offers,hello,challenge').split(',') as AttackPlan['floods'][number][];
if (FLOODS.some((f) => !['offers', 'hello', 'challenge'].includes(f))) {
  process.stderr.write(`bench/soak: --floods takes offers, hello and challenge\n${USAGE}\n`);
  process.exit(2);
}
const PORT = 8480;
/** Each agent beats once a real second. */
const BEAT_MS = 1000;
/** A customer's pause between reads. */
const THINK_MS = 100;
const ATTACK_ADDRESSES = 6;
/**
 * Agents per farm /64: under the gateway's default `http.agentUpgradesPerMinute` burst (60) and
 * `http.maxConnectionsPerSubnet` (64), so the soak runs with the default HTTP limits and the
 * attacker's /64s meet the same upgrade bucket a real flooder would.
 */
const AGENTS_PER_FARM = 50;
const say = (line: string): void => void process.stderr.write(`bench/soak: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (privateNamespace() === undefined) {
  // Everything runs in a private namespace whose `lo` carries every actor's address; it is deleted afterwards.
  const run = await runInPrivateNamespace([process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { echo: (s) => void process.stdout.write(s), timeoutMs: (2 * SECONDS + 300) * 1000 });
  process.exit(run.code);
}

const started = new Set<Started>();
const teardown = new Teardown('bench/soak', () => Promise.all([...started].map((p) => stopProcess(p))));

function startProcess(name: string, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Started {
  if (teardown.started) throw new Error(`interrupted before starting ${name}`);
  const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${name}: could not start`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const p: Started = { name, child, pid: child.pid, exited };
  started.add(p);
  void exited.then(() => started.delete(p));
  return p;
}

/** Latencies (ms) and unexpected answers of legit requests, by phase and request kind. */
class Recorder {
  readonly ms = new Map<string, number[]>();
  readonly failures = new Map<string, string[]>();

  async time(phase: string, kind: string, expect: number, run: () => Promise<JsonAnswer>): Promise<JsonAnswer | undefined> {
    const key = `${phase}\t${kind}`;
    let answer: JsonAnswer;
    try {
      answer = await run();
    } catch (err) {
      this.fail(key, errorMessage(err));
      return undefined;
    }
    if (answer.status !== expect) {
      this.fail(key, `${answer.status} ${answer.text.slice(0, 200)}`);
      return undefined;
    }
    const list = this.ms.get(key) ?? [];
    list.push(answer.ms);
    this.ms.set(key, list);
    return answer;
  }

  fail(key: string, what: string): void {
    const list = this.failures.get(key) ?? [];
    list.push(what);
    this.failures.set(key, list);
  }
}

/** One customer's visit: link, get funded, order, wait for the VM, then read until the phase ends. */
async function customer(rec: Recorder, phase: string, target: Target, address: string, admin: string, identity: Identity, untilMs: number): Promise<{ ordered: boolean; active: boolean }> {
  const call = (method: string, path: string, body?: unknown): Promise<JsonAnswer> => jsonRequest(target, address, method, path, body);
  const ch = await rec.time(phase, 'POST /v1/link/challenge', 201, () => call('POST', '/v1/link/challenge', { agent: identity.agent }));
  if (!ch) return { ordered: false, active: false };
  const { nonce, statement } = ch.json as { nonce: string; statement: string };
  const linked = await rec.time(phase, 'POST /v1/link', 201, () => call('POST', '/v1/link', { agent: identity.agent, nonce, signature: toBase64(sign(identity.secretKey, utf8(statement))) }));
  if (!linked) return { ordered: false, active: false };
  await rec.time(phase, 'POST /admin/api/ledger/fund (admin)', 200, () => jsonRequest(target, admin, 'POST', '/admin/api/ledger/fund', { agent: identity.agent, amount: '50' }));
  const placed = await rec.time(phase, 'POST /v1/orders', 201, () => call('POST', '/v1/orders', { offer: 'small', sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJwNGHzv2uT5UPGIxiHH7zW9K70Vt2MzQ53aJjDn2BQF soak'] }));
  if (!placed) return { ordered: false, active: false };
  const orderId = (placed.json as { order: { id: string } }).order.id;
  let deployment: string | undefined;
  for (let i = 0; i < 200 && deployment === undefined && Date.now() < untilMs + 30_000; i++) {
    const o = await rec.time(phase, 'GET /v1/orders/{id}', 200, () => call('GET', `/v1/orders/${orderId}`));
    const order = (o?.json as { order?: { state: string; deployment?: { id: string } } } | undefined)?.order;
    if (order?.state === 'active') deployment = order.deployment?.id;
    else await sleep(THINK_MS);
  }
  if (deployment === undefined) return { ordered: true, active: false };
  for (let i = 0; i < 10_000 && Date.now() < untilMs; i++) {
    await rec.time(phase, 'GET /v1/receipts', 200, () => call('GET', `/v1/receipts?deployment=${deployment}`));
    await rec.time(phase, 'GET /v1/balance', 200, () => call('GET', '/v1/balance'));
    await rec.time(phase, 'GET /v1/orders/{id}', 200, () => call('GET', `/v1/orders/${orderId}`));
    await sleep(THINK_MS);
  }
  return { ordered: true, active: true };
}

async function runAttacker(dir: string, plan: AttackPlan): Promise<AttackSummary> {
  const planFile = join(dir, 'attack.json');
  writeFileSync(planFile, JSON.stringify(plan));
  const p = startProcess('attacker', [process.execPath, ATTACKER, planFile]);
  let summary: AttackSummary | undefined;
  createInterface({ input: p.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    summary = JSON.parse(line) as AttackSummary;
  });
  p.child.stderr?.on('data', (d: Buffer) => say(`attacker: ${d.toString('utf8').trim()}`));
  await p.exited;
  if (!summary) throw new Error('the attacker printed no summary');
  return summary;
}

function format(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hypha-soak-'));
  teardown.add(() => rmSync(dir, { recursive: true, force: true }));
  const farmCount = Math.ceil(AGENTS / AGENTS_PER_FARM);
  const [gw, admin, ...rest] = await addLoopbackAddresses(2 + farmCount + 2 * CUSTOMERS + ATTACK_ADDRESSES);
  const farms = rest.slice(0, farmCount);
  const quietCustomers = rest.slice(farmCount, farmCount + CUSTOMERS);
  const attackCustomers = rest.slice(farmCount + CUSTOMERS, farmCount + 2 * CUSTOMERS);
  const attackers = rest.slice(farmCount + 2 * CUSTOMERS);
  const farmOf = (i: number): string => farms[Math.floor(i / AGENTS_PER_FARM)] as string;
  const agents = Array.from({ length: AGENTS }, () => newIdentity());
  const epochMs = Date.now();
  const clock = new ScaledClock(epochMs, HOUR_SECONDS);
  // A billed hour lasts HOUR_SECONDS real seconds, so periods close (receipts, acknowledgements) during the run.
  const config = {
    listen: gw,
    port: PORT,
    dataDir: join(dir, 'data'),
    admins: [subnet64(admin as string)],
    agents: agents.map((a, i) => ({ agent: a.agent, subnets: [subnet64(farmOf(i))], nodes: [`n${i}`] })),
    heartbeatIntervalSeconds: (BEAT_MS / 1000) * (3600 / HOUR_SECONDS),
    billing: { startupWaitSeconds: 1, tickSeconds: 0.5 },
    orders: { checkIntervalSeconds: 1 },
    probes: { enabled: false },
    // The HTTP limits are the defaults except the total connection cap (4,096), lifted for runs with thousands of agents.
    http: { maxConnections: Math.max(4096, AGENTS + 1000) },
    lab: { hourSeconds: HOUR_SECONDS, epochMs },
  };
  const configFile = join(dir, 'gateway.json');
  writeFileSync(configFile, JSON.stringify(config));
  const logFile = join(dir, 'gateway.log');
  const profile = options.profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.profile];
  const gateway = startProcess('gateway', [process.execPath, ...profile, HYPHA_BIN, 'gateway', '--config', configFile], { ...process.env, HYPHA_LAB: '1', HYPHA_LOG_LEVEL: 'info' });
  await waitForLine(gateway, 'gateway listening', 60_000, logFile);
  const target: Target = { host: gw as string, port: PORT };
  const wsUrl = `ws://[${gw as string}]:${PORT}/v1/agent`;

  const sims = agents.map((identity, i) => new SimAgent({ identity, nodes: [`n${i}`], capacity: { cpu: 16, memoryGb: 64, diskGb: 1000 }, localAddress: farmOf(i), vmAddress: () => randomAddressIn(subnet64(farmOf(i))) }));
  let lost = 0;
  for (const s of sims) s.onLost = () => void lost++;
  for (let i = 0; i < sims.length; i += 16) {
    const outcomes = await Promise.all(sims.slice(i, i + 16).map((s) => s.connect(wsUrl)));
    const refused = outcomes.find((o) => !o.welcomed);
    if (refused) throw new Error(`an agent was refused: ${JSON.stringify(refused)}`);
  }
  // Each agent beats once a second in its own slot, stamped with the gateway's (scaled) clock.
  const t0 = Date.now();
  const nextBeat = sims.map((_, i) => t0 + (i * BEAT_MS) / sims.length);
  const beater = setInterval(() => {
    const now = Date.now();
    sims.forEach((s, i) => {
      if ((nextBeat[i] as number) > now) return;
      nextBeat[i] = (nextBeat[i] as number) + BEAT_MS;
      s.beat(clock.nowMs());
    });
  }, 10);
  teardown.add(() => clearInterval(beater));
  say(`${AGENTS} agents connected and beating; ${CUSTOMERS} customers per phase, ${SECONDS} s per phase`);

  const rec = new Recorder();
  const visit = (phase: string, addresses: readonly string[]): Promise<{ ordered: boolean; active: boolean }[]> => {
    const until = Date.now() + SECONDS * 1000;
    return Promise.all(addresses.map((a) => customer(rec, phase, target, a, admin as string, newIdentity(), until)));
  };
  const ticks = Number((await runCommand('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
  const cpu: Record<string, { cpuSeconds: number; benchCpuSeconds: number; seconds: number }> = {};
  const ownCpuSeconds = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const measured = async <T>(phase: string, run: () => Promise<T>): Promise<T> => {
    const [c0, b0, t0] = [cpuSeconds(gateway.pid, ticks), ownCpuSeconds(), Date.now()];
    const out = await run();
    cpu[phase] = { cpuSeconds: cpuSeconds(gateway.pid, ticks) - c0, benchCpuSeconds: ownCpuSeconds() - b0, seconds: (Date.now() - t0) / 1000 };
    return out;
  };
  // The gateway's event-loop delay per phase (prom-client resets its histogram at each scrape): with its CPU share, it tells a busy gateway from one the machine did not schedule.
  const loopDelay = async (): Promise<{ p99: number; max: number }> => {
    const text = (await jsonRequest(target, admin as string, 'GET', '/metrics')).text;
    const gauge = (name: string): number => 1000 * Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
    return { p99: gauge('hypha_nodejs_eventloop_lag_p99_seconds'), max: gauge('hypha_nodejs_eventloop_lag_max_seconds') };
  };
  const delays: Record<string, { p99: number; max: number }> = {};
  await loopDelay();
  const quiet = await measured('quiet', () => visit('quiet', quietCustomers));
  delays.quiet = await loopDelay();
  say('quiet phase done; the attack begins');
  const attackPlan: AttackPlan = { host: gw as string, port: PORT, addresses: attackers, seconds: SECONDS + 2, concurrency: ATTACK, hello: HELLO as 'signed' | 'garbage', floods: FLOODS };
  const [attack, attacked] = await measured('attack', () => Promise.all([runAttacker(dir, attackPlan), sleep(1000).then(() => visit('attack', attackCustomers))]));
  delays.attack = await loopDelay();
  say('attack phase done; waiting for the last heartbeats to be acknowledged');

  clearInterval(beater);
  const sentSeq = sims.map((s) => s.seq);
  const ackDeadline = Date.now() + (3 * HOUR_SECONDS + 10) * 1000;
  while (Date.now() < ackDeadline && sims.some((s, i) => s.ackedSeq < (sentSeq[i] as number))) await sleep(200);
  const unacked = sims.filter((s, i) => s.ackedSeq < (sentSeq[i] as number)).length;
  // The admin's view of every agent, page by page (?limit=&after=, a `next` cursor).
  const seqs = new Map<string, { agent: string; seq?: number; connected: boolean }>();
  for (let after: string | null = '', pages = 0; after !== null && pages < 1000; pages++) {
    const page = (await jsonRequest(target, admin as string, 'GET', `/admin/api/agents?limit=1000${after === '' ? '' : `&after=${encodeURIComponent(after)}`}`)).json as { agents?: { agent: string; seq?: number; connected: boolean }[]; next?: string | null };
    for (const a of page.agents ?? []) seqs.set(a.agent, a);
    after = page.next ?? null;
  }
  const notIngested = sims.filter((s) => seqs.get(s.agent)?.seq !== s.seq).length;
  const disconnected = sims.filter((s) => seqs.get(s.agent)?.connected !== true).length;
  const heartbeats = sims.reduce((n, s) => n + s.sent, 0);
  for (const s of sims) s.close();
  await stopProcess(gateway);
  if (options['keep-log'] !== undefined) copyFileSync(logFile, options['keep-log']);

  // The report.
  const kinds = [...new Set([...rec.ms.keys(), ...rec.failures.keys()].map((k) => k.split('\t')[1] as string))];
  const rows = ['| legit request | n quiet | p50 quiet (ms) | p99 quiet (ms) | n attack | p50 attack (ms) | p99 attack (ms) | p99 ratio | failed quiet / attack |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const kind of kinds) {
    const q = rec.ms.get(`quiet\t${kind}`) ?? [];
    const a = rec.ms.get(`attack\t${kind}`) ?? [];
    const fq = rec.failures.get(`quiet\t${kind}`)?.length ?? 0;
    const fa = rec.failures.get(`attack\t${kind}`)?.length ?? 0;
    rows.push(`| ${kind} | ${q.length} | ${format(percentile(q, 50))} | ${format(percentile(q, 99))} | ${a.length} | ${format(percentile(a, 50))} | ${format(percentile(a, 99))} | ${format(percentile(a, 99) / percentile(q, 99), 2)} | ${fq} / ${fa} |`);
  }
  const all = (phase: string): number[] => [...rec.ms].filter(([k]) => k.startsWith(`${phase}\t`)).flatMap(([, v]) => v);
  const allQ = all('quiet');
  const allA = all('attack');
  rows.push(`| **all legit requests** | ${allQ.length} | ${format(percentile(allQ, 50))} | ${format(percentile(allQ, 99))} | ${allA.length} | ${format(percentile(allA, 50))} | ${format(percentile(allA, 99))} | ${format(percentile(allA, 99) / percentile(allQ, 99), 2)} | |`);
  const attackRows = ['| flood | requests | per second | outcomes |', '|---|---:|---:|---|'];
  for (const [flood, outcomes] of Object.entries(attack.outcomes)) {
    const n = Object.values(outcomes).reduce((x, y) => x + y, 0);
    attackRows.push(`| ${flood} | ${n} | ${format(n / attack.seconds, 0)} | ${Object.entries(outcomes).map(([k, v]) => `${k}: ${v}`).join(', ')} |`);
  }
  const ok = (list: { ordered: boolean; active: boolean }[]): string => `${list.filter((c) => c.ordered).length}/${list.length} ordered, ${list.filter((c) => c.active).length} active`;
  const checks = [
    `orders: quiet ${ok(quiet)}; attack ${ok(attacked)}`,
    `heartbeats: ${heartbeats} sent by ${AGENTS} agents from ${farmCount} farm /64s; agents whose last seq the gateway has not: ${notIngested}; not acknowledged within ${3 * HOUR_SECONDS + 10} s: ${unacked}; disconnected: ${disconnected}; connections lost: ${lost}`,
    `gateway CPU (% of one core): quiet ${format((100 * (cpu.quiet?.cpuSeconds ?? NaN)) / (cpu.quiet?.seconds ?? NaN), 0)}, attack ${format((100 * (cpu.attack?.cpuSeconds ?? NaN)) / (cpu.attack?.seconds ?? NaN), 0)}; this process (agents and customers): quiet ${format((100 * (cpu.quiet?.benchCpuSeconds ?? NaN)) / (cpu.quiet?.seconds ?? NaN), 0)}, attack ${format((100 * (cpu.attack?.benchCpuSeconds ?? NaN)) / (cpu.attack?.seconds ?? NaN), 0)}; attacker process ${format((100 * attack.cpuSeconds) / attack.seconds, 0)}; legit requests/s: quiet ${format(allQ.length / (cpu.quiet?.seconds ?? NaN))}, attack ${format(allA.length / (cpu.attack?.seconds ?? NaN))}; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    `gateway event-loop delay p99 / max (ms): quiet ${format(delays.quiet?.p99 ?? NaN, 0)} / ${format(delays.quiet?.max ?? NaN, 0)}, attack ${format(delays.attack?.p99 ?? NaN, 0)} / ${format(delays.attack?.max ?? NaN, 0)}`,
    `gateway warnings/errors logged: ${warningsIn(logFile)}`,
    ...firstWarnings(logFile, 5).map((w) => `  ${w}`),
  ];
  const failures = [...rec.failures].flatMap(([k, v]) => v.slice(0, 3).map((w) => `${k.replace('\t', ' ')}: ${w}`));
  process.stdout.write(
    [
      `bench/soak: ${AGENTS} agents (1 heartbeat/s each), ${CUSTOMERS} customers per phase, ${SECONDS} s per phase, a billed hour = ${HOUR_SECONDS} s; attacker: ${ATTACK} loops from ${ATTACK_ADDRESSES} /64s (${FLOODS.join(', ')}), hellos ${HELLO}`,
      '',
      rows.join('\n'),
      '',
      attackRows.join('\n'),
      '',
      ...checks,
      ...(failures.length > 0 ? ['', 'legit requests that failed (first 3 per kind):', ...failures] : []),
      '',
    ].join('\n'),
  );
  const legitFailures = [...rec.failures.values()].flat();
  const summary = summaryLine({
    quietMs: allQ,
    attackMs: allA,
    quietSeconds: cpu.quiet?.seconds ?? NaN,
    attackSeconds: cpu.attack?.seconds ?? NaN,
    legitFailed: legitFailures.length,
    legitRateLimited: legitFailures.filter((f) => f.startsWith('429 ')).length,
    active: [...quiet, ...attacked].filter((c) => c.active).length,
    customers: quiet.length + attacked.length,
    notIngested,
    unacked,
    lost: lost + disconnected,
    attack,
    refusedJoinWarnings: logMessagesStartingWith(logFile, 'agent request refused'),
  });
  process.stdout.write(`${summary}\n`);
  const clean = quiet.every((c) => c.active) && attacked.every((c) => c.active) && notIngested === 0 && unacked === 0 && disconnected === 0 && lost === 0 && failures.length === 0;
  process.exitCode = clean ? 0 : 1;
}

try {
  await main();
} catch (err) {
  say(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await teardown.run();
}
