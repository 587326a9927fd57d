// bench/pg-checkpoint: the money log's checkpoint on PostgreSQL, this build against another (BENCH_BASE_DIST) in one run — period closes of D deployments (bench/billing), the checkpoint's bytes, and the gateway's start from it.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres, type PostgresServer } from '../src/lab/postgres-server.js';
import { median } from './measure.js';
import { postgresCpuSeconds } from './processes.js';
import { Teardown } from './teardown.js';
import { createDatabase, sql } from '../test/helpers/pg-sql.js';

const here = dirname(fileURLToPath(import.meta.url));
const out = (line = ''): boolean => process.stdout.write(line + '\n');
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** A build to measure: the folder holding its compiled bench/ (dist/bench of a worktree). */
interface Build {
  readonly name: string;
  readonly bench: string;
}

/** One round of one build: each close's CPU and store time, the checkpoint's size, and each start from it. */
interface Round {
  closes: Array<{ cpuMs: number; storeMs: number; wallMs: number }>;
  checkpointBytes: { row: number; parts: number; partRows: number; format: string };
  starts: Array<{ wallMs: number; cpuMs: number; serverCpuMs: number; fromCheckpoint: boolean }>;
}

function runNode(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => (code === 0 ? done(stdout) : fail(new Error(`${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`))));
  });
}

/** The checkpoint row's size: format 1 text, or format 2 body plus the part rows it names. */
async function checkpointSize(url: string): Promise<Round['checkpointBytes']> {
  const [columns] = await sql<{ n: string }>(url, "SELECT count(*)::text AS n FROM information_schema.columns WHERE table_name = 'money_checkpoint' AND column_name = 'body'");
  if (Number(columns?.n) === 0) {
    const [row] = await sql<{ bytes: string }>(url, 'SELECT octet_length(state)::text AS bytes FROM money_checkpoint');
    return { row: Number(row?.bytes ?? 0), parts: 0, partRows: 0, format: '1' };
  }
  const [row] = await sql<{ bytes: string; text: boolean }>(url, 'SELECT coalesce(octet_length(body), octet_length(state))::text AS bytes, state IS NOT NULL AS text FROM money_checkpoint');
  const [parts] = await sql<{ bytes: string; n: string }>(url, 'SELECT coalesce(sum(octet_length(bytes)), 0)::text AS bytes, count(*)::text AS n FROM money_checkpoint_part');
  return { row: Number(row?.bytes ?? 0), parts: Number(parts?.bytes ?? 0), partRows: Number(parts?.n ?? 0), format: row?.text ? '1' : '2' };
}

/** One build's round: bench/billing's closes into a fresh database, then starts from its checkpoint (bench/store's open child: openStorage as Gateway.start calls it). */
async function round(server: PostgresServer, build: Build, k: number, env: Record<string, string>, starts: number): Promise<Round> {
  const url = await createDatabase(server.url, `${build.name}_${k}`);
  const text = await runNode(['--expose-gc', join(build.bench, 'billing.js')], { ...env, BENCH_DATABASE_URL: url, BENCH_JSON: '1' });
  const line = text.split('\n').find((l) => l.startsWith('bench/billing json: '));
  if (!line) throw new Error(`bench/pg-checkpoint: ${build.name}'s bench/billing printed no JSON line`);
  const parsed = JSON.parse(line.slice('bench/billing json: '.length)) as { closes: Round['closes'] };
  const checkpointBytes = await checkpointSize(url);
  const opened: Round['starts'] = [];
  for (let i = 0; i < starts; i++) {
    const before = postgresCpuSeconds(server.dataDir, 100) * 1000;
    const sample = JSON.parse((await runNode([join(build.bench, 'store.js'), 'open', 'postgres', url], {})).trim().split('\n').at(-1) as string) as Round['starts'][number];
    await new Promise((r) => setTimeout(r, 300));
    sample.serverCpuMs = postgresCpuSeconds(server.dataDir, 100) * 1000 - before;
    opened.push(sample);
  }
  return { closes: parsed.closes.map((c) => ({ cpuMs: c.cpuMs, storeMs: c.storeMs, wallMs: c.wallMs })), checkpointBytes, starts: opened };
}

async function main(): Promise<void> {
  const deployments = Number(process.env.BENCH_DEPLOYMENTS ?? 100_000);
  const closes = Number(process.env.BENCH_CLOSES ?? 3);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
  const starts = Number(process.env.BENCH_STARTS ?? 2);
  for (const n of [deployments, closes, rounds, starts]) if (!Number.isInteger(n) || n <= 0) throw new Error('bench/pg-checkpoint: BENCH_DEPLOYMENTS, BENCH_CLOSES, BENCH_ROUNDS and BENCH_STARTS must be positive whole numbers');
  const builds: Build[] = [{ name: 'this', bench: here }];
  if (process.env.BENCH_BASE_DIST) builds.unshift({ name: 'base', bench: join(resolve(process.env.BENCH_BASE_DIST), 'bench') });
  const env = { BENCH_DEPLOYMENTS: String(deployments), BENCH_CLOSES: String(closes), BENCH_VERIFY_ROUNDS: '20', BENCH_APPENDS: '20' };
  const loadStart = loadavg();
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'hypha-bench-pgckpt-'));
  chmodSync(dir, 0o755);
  const teardown = new Teardown('bench/pg-checkpoint');
  teardown.add(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const server = await startPostgres({ dir: join(dir, 'pg'), port: 20_000 + (process.pid % 10_000) });
    teardown.add(() => server.stop());
    const results = new Map<string, Round[]>(builds.map((b) => [b.name, []]));
    // Interleaved (base, this, base, this…): the shared machine's load moves during a run.
    for (let k = 0; k < rounds; k++) {
      for (const build of builds) {
        const r = await round(server, build, k, env, starts);
        results.get(build.name)?.push(r);
        process.stderr.write(`bench/pg-checkpoint: ${build.name} round ${k + 1}: ${JSON.stringify(r)}\n`);
      }
    }
    out(`### The money log's checkpoint on PostgreSQL, ${fmt(deployments)} deployments, ${closes} closes (median of ${rounds} rounds; starts: median of ${rounds * starts})`);
    out(`Load average ${loadStart.map((l) => l.toFixed(1)).join(' / ')} at start, ${loadavg().map((l) => l.toFixed(1)).join(' / ')} at the end.`);
    out();
    out('| build | close k: CPU (ms) | close k: store (ms) | checkpoint row / parts (MiB) | format | start: wall (ms) | gateway CPU (ms) | server CPU (ms) | from checkpoint |');
    out('|---|---:|---:|---:|---|---:|---:|---:|---|');
    for (const build of builds) {
      const rs = results.get(build.name) ?? [];
      const perClose = (f: (c: Round['closes'][number]) => number): string => Array.from({ length: closes }, (_, i) => fmt(median(rs.map((r) => f(r.closes[i] as Round['closes'][number]))))).join(' / ');
      const all = rs.flatMap((r) => r.starts);
      const last = rs.at(-1)?.checkpointBytes;
      out(`| ${build.name} | ${perClose((c) => c.cpuMs)} | ${perClose((c) => c.storeMs)} | ${fmt(median(rs.map((r) => r.checkpointBytes.row)) / 1048576, 1)} / ${fmt(median(rs.map((r) => r.checkpointBytes.parts)) / 1048576, 1)} (${last?.partRows ?? 0} rows) | ${last?.format ?? '?'} | ${fmt(median(all.map((s) => s.wallMs)))} | ${fmt(median(all.map((s) => s.cpuMs)))} | ${fmt(median(all.map((s) => s.serverCpuMs)))} | ${all.filter((s) => s.fromCheckpoint).length}/${all.length} |`);
    }
  } finally {
    await teardown.run();
  }
}

await main();
