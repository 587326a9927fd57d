// bench/store: the embedded store against PostgreSQL in one run — storage open (gateway start, from the money log's checkpoint) with N receipts in the money log, the money log replayed whole as before the checkpoint, and a period close of D deployments.
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { FileMoneyStore } from '../src/gateway/billing/money-store.js';
import { ReceiptLog } from '../src/gateway/billing/receipt-log.js';
import { parseGatewayConfig } from '../src/gateway/config.js';
import { EventLog } from '../src/gateway/events/event-log.js';
import { OrderArchive } from '../src/gateway/orders/order-archive.js';
import { openStorage } from '../src/gateway/store/open-storage.js';
import { PgDatabase } from '../src/gateway/store/postgres/pg-database.js';
import { PgMoneyStore } from '../src/gateway/store/postgres/pg-money-store.js';
import { loadLibsodium } from '../src/identity/index.js';
import { startPostgres, type PostgresServer } from '../src/lab/postgres-server.js';
import { median } from './measure.js';
import { writeReceiptHistory } from './receipt-history.js';
import { postgresCpuSeconds } from './processes.js';
import { Teardown } from './teardown.js';
import { createDatabase } from '../test/helpers/pg-sql.js';

const here = dirname(fileURLToPath(import.meta.url));
const out = (line = ''): boolean => process.stdout.write(line + '\n');
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mib = (kib: number): string => fmt(kib / 1024);

/** What one storage open cost, measured inside the child process that opened it. */
interface OpenSample {
  readonly wallMs: number;
  /** CPU of the gateway process (user + system) during the open. */
  readonly cpuMs: number;
  /** CPU of the PostgreSQL server's processes during the child's life (0 for embedded). */
  serverCpuMs: number;
  /** Peak RSS of the whole child process (maxRSS, KiB): Node itself plus what the open kept. */
  readonly peakKib: number;
  readonly receipts: number;
  /** Whether the money log began from its checkpoint (only the records after it replayed). */
  readonly fromCheckpoint: boolean;
  /** The longest time the event loop did not run during the open (the HA lease's stall bound must exceed it); absent for a replay. */
  readonly longestStallMs?: number;
}

/** Child mode: opens the gateway's storage as Gateway.start does and prints what it cost as JSON. */
async function openChild(kind: string, where: string): Promise<void> {
  await loadLibsodium();
  const raw = kind === 'postgres' ? { dataDir: tmpdir(), store: { kind: 'postgres', url: where } } : { dataDir: where };
  const config = parseGatewayConfig(raw, tmpdir());
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const stalls = monitorEventLoopDelay({ resolution: 10 });
  stalls.enable();
  const storage = await openStorage(config, pino({ level: 'silent' }));
  stalls.disable();
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  const receipts = storage.receipts.count();
  const fromCheckpoint = storage.receipts.fromCheckpoint();
  await storage.close();
  const sample: OpenSample = { wallMs, cpuMs: (used.user + used.system) / 1000, serverCpuMs: 0, peakKib: process.resourceUsage().maxRSS, receipts, fromCheckpoint, longestStallMs: stalls.max / 1e6 };
  out(JSON.stringify(sample));
}

/** Child mode: the money log alone, replayed whole as every start did before the checkpoint (the checkpoint is not read). */
async function replayChild(kind: string, where: string): Promise<void> {
  await loadLibsodium();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  let receipts: ReceiptLog;
  let db: PgDatabase | null = null;
  if (kind === 'postgres') {
    const opened = await PgDatabase.open({ url: where });
    db = opened;
    receipts = (await ReceiptLog.over((replay) => PgMoneyStore.open(opened, replay), { checkpointEvery: 0 })).receipts;
  } else {
    receipts = (await ReceiptLog.over((replay) => Promise.resolve(FileMoneyStore.open(join(where, 'receipts.log'), replay).store), { checkpointEvery: 0 })).receipts;
  }
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  const sample: OpenSample = { wallMs, cpuMs: (used.user + used.system) / 1000, serverCpuMs: 0, peakKib: process.resourceUsage().maxRSS, receipts: receipts.count(), fromCheckpoint: receipts.fromCheckpoint() };
  receipts.close();
  await db?.close();
  out(JSON.stringify(sample));
}

/** What one start of the timeline and the order archive cost, measured in the child that opened them. */
interface TimelineSample {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly peakKib: number;
  /** Bytes the process read during the open (/proc/self/io rchar). */
  readonly readBytes: number;
  readonly events: number;
  readonly archived: number;
}

/** Bytes this process has read so far (/proc/self/io rchar). */
function bytesRead(): number {
  return Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN);
}

/** Child mode: opens events.log and orders-archive.log of `dataDir` as the embedded storage does (default config) and prints what it cost. */
function timelineOpenChild(dataDir: string): void {
  const config = parseGatewayConfig({ dataDir }, tmpdir());
  const cpu = process.cpuUsage();
  const readBefore = bytesRead();
  const start = process.hrtime.bigint();
  const { events } = EventLog.open(join(dataDir, 'events.log'), config.events.keepInMemory);
  const { archive } = OrderArchive.open(join(dataDir, 'orders-archive.log'), config.orders.historyPerCustomer);
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  const sample: TimelineSample = { wallMs, cpuMs: (used.user + used.system) / 1000, peakKib: process.resourceUsage().maxRSS, readBytes: bytesRead() - readBefore, events: events.size, archived: archive.count };
  events.close();
  archive.close();
  out(JSON.stringify(sample));
}

/**
 * bench/store timeline: the embedded start's reads of events.log and orders-archive.log with a long
 * history (BENCH_EVENTS events, BENCH_ARCHIVED orders of BENCH_CUSTOMERS customers), from their resume files against
 * the whole read every start did before them (the same logs, resume files moved away), alternating.
 */
async function timelineMain(): Promise<void> {
  const eventCount = Number(process.env.BENCH_EVENTS ?? 400_000);
  const archivedCount = Number(process.env.BENCH_ARCHIVED ?? 100_000);
  const customers = Number(process.env.BENCH_CUSTOMERS ?? 50);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  for (const n of [eventCount, archivedCount, customers, rounds]) if (!Number.isInteger(n) || n <= 0) throw new Error('bench/store timeline: BENCH_EVENTS, BENCH_ARCHIVED, BENCH_CUSTOMERS and BENCH_ROUNDS must be positive whole numbers');
  const loadStart = loadavg();
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'hypha-bench-timeline-'));
  const teardown = new Teardown('bench/store');
  teardown.add(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const config = parseGatewayConfig({ dataDir: dir }, tmpdir());
    const { events } = EventLog.open(join(dir, 'events.log'), config.events.keepInMemory);
    for (let i = 0; i < eventCount; i += 1000) await Promise.all(Array.from({ length: Math.min(1000, eventCount - i) }, (_, k) => events.record({ atMs: i + k, event: 'order.created', detail: `order ord_${i + k} placed`, customer: `c${(i + k) % customers}`, order: `ord_${i + k}` })));
    const { archive } = OrderArchive.open(join(dir, 'orders-archive.log'), config.orders.historyPerCustomer);
    for (let i = 0; i < archivedCount; i += 1000) {
      await Promise.all(
        Array.from({ length: Math.min(1000, archivedCount - i) }, (_, k) => {
          const j = i + k;
          return archive.add({ id: `ord_${j}`, customer: `c${j % customers}`, offer: 'small', name: `vm-${j}`, sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJwNGHzv2uT5UPGIxiHH7zW9K70Vt2MzQ53aJjDn2BQF bench'], pricePerHour: '0.010000', deposit: '0.240000', unit: 'SPORE', state: 'expired', createdAtMs: j, expiresAtMs: j + 3_600_000, subnet: `4${(j % customers).toString(16)}::/64`, attempts: [] });
        }),
      );
    }
    await new Promise((resolve) => setImmediate(resolve));
    events.close();
    archive.close();
    // A short history may have no tip yet (events: one per keepInMemory / 4).
    const resumeFiles = ['events.log', 'orders-archive.log'].map((f) => join(dir, `${f}.resume`)).filter((f) => existsSync(f));
    const aside = (away: boolean): void => {
      for (const f of resumeFiles) renameSync(away ? f : `${f}.aside`, away ? `${f}.aside` : f);
    };
    const samples: { resumed: TimelineSample[]; whole: TimelineSample[] } = { resumed: [], whole: [] };
    for (let r = 0; r < rounds; r++) {
      // ABBA, so a load that moves across a pair does not always favour one side.
      for (const side of r % 2 === 0 ? (['resumed', 'whole'] as const) : (['whole', 'resumed'] as const)) {
        if (side === 'whole') aside(true);
        samples[side].push(JSON.parse(await runNode([join(here, 'store.js'), 'timeline-open', dir])) as TimelineSample);
        if (side === 'whole') aside(false);
      }
    }
    const m = (xs: TimelineSample[], f: (s: TimelineSample) => number): number => median(xs.map(f));
    const loadEnd = loadavg();
    const sizes = ['events.log', 'orders-archive.log', 'events.log.resume', 'orders-archive.log.resume'].map((f) => (existsSync(join(dir, f)) ? statSync(join(dir, f)).size / 1048576 : 0));
    out(`## bench/store timeline: the embedded start's read of events.log and orders-archive.log (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`);
    out();
    out(`Node ${process.version}, ${availableParallelism()} cores, load average ${loadStart.map((l) => l.toFixed(1)).join(' ')} at start, ${loadEnd.map((l) => l.toFixed(1)).join(' ')} at end. ${fmt(eventCount)} events (events.log ${fmt(sizes[0] ?? 0, 1)} MiB, resume ${fmt((sizes[2] ?? 0) * 1024, 1)} KiB), ${fmt(archivedCount)} archived orders of ${customers} customers (orders-archive.log ${fmt(sizes[1] ?? 0, 1)} MiB, resume ${fmt(sizes[3] ?? 0, 1)} MiB); default config (events.keepInMemory ${fmt(config.events.keepInMemory)}, orders.historyPerCustomer ${config.orders.historyPerCustomer}); median of ${rounds} rounds, each a fresh process, alternating.`);
    out();
    out('| start | wall (ms) | CPU (ms) | read (MiB) | peak RSS (MiB) | events in memory | orders archived |');
    out('|---|---:|---:|---:|---:|---:|---:|');
    for (const [name, xs] of [['whole read (before)', samples.whole], ['from the resume files', samples.resumed]] as const) {
      out(`| ${name} | ${fmt(m(xs, (s) => s.wallMs))} | ${fmt(m(xs, (s) => s.cpuMs))} | ${fmt(m(xs, (s) => s.readBytes) / 1048576, 1)} | ${mib(m(xs, (s) => s.peakKib))} | ${fmt(m(xs, (s) => s.events))} | ${fmt(m(xs, (s) => s.archived))} |`);
    }
    out();
    out(`Resumed / whole: wall ${(m(samples.resumed, (s) => s.wallMs) / m(samples.whole, (s) => s.wallMs)).toFixed(2)}, CPU ${(m(samples.resumed, (s) => s.cpuMs) / m(samples.whole, (s) => s.cpuMs)).toFixed(2)}, bytes read ${(m(samples.resumed, (s) => s.readBytes) / m(samples.whole, (s) => s.readBytes)).toFixed(3)}.`);
  } finally {
    await teardown.run();
  }
}

/** CPU milliseconds the whole server has used so far (processes.ts). */
function serverCpuMs(server: PostgresServer): number {
  return postgresCpuSeconds(server.dataDir, 100) * 1000; // USER_HZ is 100 on Linux.
}

/** Runs a child node process, returning its stdout; rejects with its stderr if it fails. */
function runNode(args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`))));
  });
}

/** Runs `fn` in a child, adding the server's CPU over the child's life (backends are reaped just after it exits). */
async function withServerCpu<T extends { serverCpuMs: number }>(server: PostgresServer | undefined, fn: () => Promise<T>): Promise<T> {
  const before = server ? serverCpuMs(server) : 0;
  const result = await fn();
  if (server) {
    await new Promise((r) => setTimeout(r, 300));
    result.serverCpuMs = serverCpuMs(server) - before;
  }
  return result;
}

/** One close's numbers from bench/billing's JSON line. */
interface CloseSample {
  wallMs: number;
  cpuMs: number;
  storeMs: number;
  settleMs: number;
  peakKib: number;
  issued: number;
  /** The longest event-loop stall of the close (absent from runs before it was measured). */
  longestStallMs?: number;
}

interface CloseRun {
  closes: CloseSample[];
  appendMedianMs: number;
  serverCpuMs: number;
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_RECEIPTS ?? '10000,40000').split(',').map(Number);
  const deployments = Number(process.env.BENCH_DEPLOYMENTS ?? 5_000);
  const closes = Number(process.env.BENCH_CLOSES ?? 2);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const replayRounds = Number(process.env.BENCH_REPLAY_ROUNDS ?? 1);
  const historyDeployments = 1_000;
  for (const n of [...sizes, deployments, closes, rounds, replayRounds]) if (!Number.isInteger(n) || n <= 0) throw new Error('bench/store: BENCH_RECEIPTS, BENCH_DEPLOYMENTS, BENCH_CLOSES, BENCH_ROUNDS and BENCH_REPLAY_ROUNDS must be positive whole numbers');
  for (const n of sizes) if (n % historyDeployments !== 0) throw new Error(`bench/store: BENCH_RECEIPTS must be multiples of ${historyDeployments}`);

  const loadStart = loadavg();
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'hypha-bench-store-'));
  // The server account must be able to enter the scratch folder to reach its data and socket folders.
  chmodSync(dir, 0o755);
  const teardown = new Teardown('bench/store');
  teardown.add(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const server = await startPostgres({ dir: join(dir, 'pg'), port: 20_000 + (process.pid % 10_000) });
    teardown.add(() => server.stop());
    await loadLibsodium();

    // (a) Storage open with N receipts in the money log.
    const opens: Array<{ receipts: number; fillMs: { embedded: number; postgres: number }; tableMiB: number; fileMiB: number; checkpointMiB: { file: number; row: number }; embedded: OpenSample[]; postgres: OpenSample[]; embeddedReplay: OpenSample[]; postgresReplay: OpenSample[] }> = [];
    for (const n of sizes) {
      const dataDir = join(dir, `embedded-${n}`);
      mkdirSync(dataDir);
      let t = process.hrtime.bigint();
      const file = ReceiptLog.open(join(dataDir, 'receipts.log')).receipts;
      await writeReceiptHistory(file, n, historyDeployments);
      file.close();
      const embeddedFillMs = Number(process.hrtime.bigint() - t) / 1e6;
      const url = await createDatabase(server.url, `receipts_${n}`);
      t = process.hrtime.bigint();
      const db = await PgDatabase.open({ url });
      const table = (await ReceiptLog.over((replay) => PgMoneyStore.open(db, replay))).receipts;
      await writeReceiptHistory(table, n, historyDeployments);
      table.close();
      const postgresFillMs = Number(process.hrtime.bigint() - t) / 1e6;
      const size = await db.query<{ bytes: string }>('bench.size', "SELECT pg_total_relation_size('money_log') AS bytes");
      const rowSize = await db.query<{ bytes: string }>('bench.size', 'SELECT octet_length(state) AS bytes FROM money_checkpoint');
      await db.close();
      const checkpointMiB = { file: statSync(join(dataDir, 'receipts.log.checkpoint')).size / 1048576, row: Number(rowSize[0]?.bytes ?? 0) / 1048576 };
      const row = { receipts: n, fillMs: { embedded: embeddedFillMs, postgres: postgresFillMs }, tableMiB: Number(size[0]?.bytes ?? 0) / 1048576, fileMiB: statSync(join(dataDir, 'receipts.log')).size / 1048576, checkpointMiB, embedded: [] as OpenSample[], postgres: [] as OpenSample[], embeddedReplay: [] as OpenSample[], postgresReplay: [] as OpenSample[] };
      for (let r = 0; r < rounds; r++) {
        row.embedded.push(JSON.parse(await runNode([join(here, 'store.js'), 'open', 'embedded', dataDir])) as OpenSample);
        row.postgres.push(await withServerCpu(server, async () => JSON.parse(await runNode([join(here, 'store.js'), 'open', 'postgres', url])) as OpenSample));
      }
      for (let r = 0; r < replayRounds; r++) {
        row.embeddedReplay.push(JSON.parse(await runNode([join(here, 'store.js'), 'replay', 'embedded', dataDir])) as OpenSample);
        row.postgresReplay.push(await withServerCpu(server, async () => JSON.parse(await runNode([join(here, 'store.js'), 'replay', 'postgres', url])) as OpenSample));
      }
      for (const s of [...row.embedded, ...row.postgres, ...row.embeddedReplay, ...row.postgresReplay]) if (s.receipts !== n) throw new Error(`bench/store: opened ${s.receipts} receipts, expected ${n}`);
      for (const s of [...row.embedded, ...row.postgres]) if (!s.fromCheckpoint) throw new Error(`bench/store: a start with ${n} receipts did not begin from the checkpoint`);
      opens.push(row);
      process.stderr.write(`bench/store: open with ${n} receipts measured\n`);
    }

    // (b) Period closes of D deployments: bench/billing once per backend.
    const closeEnv = { BENCH_DEPLOYMENTS: String(deployments), BENCH_CLOSES: String(closes), BENCH_VERIFY_ROUNDS: '20', BENCH_APPENDS: '20', BENCH_JSON: '1', BENCH_DIR: dir };
    const runBilling = async (url?: string): Promise<CloseRun> => {
      const text = await runNode(['--expose-gc', join(here, 'billing.js')], url ? { ...closeEnv, BENCH_DATABASE_URL: url } : closeEnv);
      const line = text.split('\n').find((l) => l.startsWith('bench/billing json: '));
      if (!line) throw new Error('bench/store: bench/billing printed no JSON line');
      const parsed = JSON.parse(line.slice('bench/billing json: '.length)) as { closes: CloseSample[]; appendMedianMs: number };
      return { ...parsed, serverCpuMs: 0 };
    };
    const closeEmbedded = await runBilling();
    process.stderr.write('bench/store: embedded closes measured\n');
    const closeUrl = await createDatabase(server.url, 'closes');
    const closePostgres = await withServerCpu(server, () => runBilling(closeUrl));
    process.stderr.write('bench/store: PostgreSQL closes measured\n');

    const loadEnd = loadavg();
    const m = (xs: OpenSample[], f: (s: OpenSample) => number): number => median(xs.map(f));
    out(`## bench/store: embedded store against PostgreSQL, same run (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`);
    out();
    out(`Node ${process.version}, ${availableParallelism()} cores, load average ${loadStart.map((l) => l.toFixed(1)).join(' ')} at start, ${loadEnd.map((l) => l.toFixed(1)).join(' ')} at end. PostgreSQL: ${server.dataDir} (Unix socket, fsync on, synchronous_commit on, default settings).`);
    out();
    out(`### Storage open (the gateway's start, from the money log's checkpoint) with N receipts in the money log (median of ${rounds} rounds, each a fresh process)`);
    out();
    out('| receipts | money log size (file / table, MiB) | embedded: wall (ms) | CPU (ms) | peak RSS (MiB) | PostgreSQL: wall (ms) | gateway CPU (ms) | server CPU (ms) | peak RSS (MiB) | wall PG / embedded | CPU (gateway + server) PG / embedded |');
    out('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const o of opens) {
      const ew = m(o.embedded, (s) => s.wallMs);
      const ec = m(o.embedded, (s) => s.cpuMs);
      const pw = m(o.postgres, (s) => s.wallMs);
      const pc = m(o.postgres, (s) => s.cpuMs);
      const ps = m(o.postgres, (s) => s.serverCpuMs);
      out(`| ${fmt(o.receipts)} | ${fmt(o.fileMiB)} / ${fmt(o.tableMiB)} | ${fmt(ew)} | ${fmt(ec)} | ${mib(m(o.embedded, (s) => s.peakKib))} | ${fmt(pw)} | ${fmt(pc)} | ${fmt(ps)} | ${mib(m(o.postgres, (s) => s.peakKib))} | ${(pw / ew).toFixed(2)} | ${((pc + ps) / ec).toFixed(2)} |`);
    }
    out();
    out(`Longest event-loop stall of an open (monitorEventLoopDelay max, 10 ms resolution, median; a takeover's state reload; ha.stallSeconds must exceed it): ${opens.map((o) => `${fmt(o.receipts)} receipts: embedded ${fmt(median(o.embedded.map((s) => s.longestStallMs ?? 0)))} ms, PostgreSQL ${fmt(median(o.postgres.map((s) => s.longestStallMs ?? 0)))} ms`).join('; ')}.`);
    out();
    out(`### The money log alone, replayed whole as every start did before the checkpoint (same data, median of ${replayRounds} round(s))`);
    out();
    out('| receipts | checkpoint, file / row (MiB) | embedded replay: wall (ms) | CPU (ms) | peak RSS (MiB) | PostgreSQL replay: wall (ms) | gateway CPU (ms) | server CPU (ms) | peak RSS (MiB) | start from checkpoint / replay, wall: embedded | PostgreSQL |');
    out('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const o of opens) {
      const ew = m(o.embeddedReplay, (s) => s.wallMs);
      const pw = m(o.postgresReplay, (s) => s.wallMs);
      out(`| ${fmt(o.receipts)} | ${fmt(o.checkpointMiB.file, 1)} / ${fmt(o.checkpointMiB.row, 2)} | ${fmt(ew)} | ${fmt(m(o.embeddedReplay, (s) => s.cpuMs))} | ${mib(m(o.embeddedReplay, (s) => s.peakKib))} | ${fmt(pw)} | ${fmt(m(o.postgresReplay, (s) => s.cpuMs))} | ${fmt(m(o.postgresReplay, (s) => s.serverCpuMs))} | ${mib(m(o.postgresReplay, (s) => s.peakKib))} | ${(m(o.embedded, (s) => s.wallMs) / ew).toFixed(3)} | ${(m(o.postgres, (s) => s.wallMs) / pw).toFixed(3)} |`);
    }
    out();
    out(`Filling the logs (not timed above): ${opens.map((o) => `${fmt(o.receipts)} receipts: file ${fmt(o.fillMs.embedded / 1000, 1)} s, PostgreSQL ${fmt(o.fillMs.postgres / 1000, 1)} s`).join('; ')}. Peak RSS is the whole process (Node alone is ~40 MiB).`);
    out();
    out(`### Period closes of ${fmt(deployments)} deployments (bench/billing, money log in receipts.log or in PostgreSQL)`);
    out();
    out('| close | embedded: wall (ms) | CPU (ms) | store (ms) | settle (ms) | peak RSS (MiB) | PostgreSQL: wall (ms) | CPU (ms) | store (ms) | settle (ms) | peak RSS (MiB) | wall PG / embedded |');
    out('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    closeEmbedded.closes.forEach((e, k) => {
      const p = closePostgres.closes[k] as CloseSample;
      out(`| period ${k + 1} | ${fmt(e.wallMs)} | ${fmt(e.cpuMs)} | ${fmt(e.storeMs)} | ${fmt(e.settleMs)} | ${mib(e.peakKib)} | ${fmt(p.wallMs)} | ${fmt(p.cpuMs)} | ${fmt(p.storeMs)} | ${fmt(p.settleMs)} | ${mib(p.peakKib)} | ${(p.wallMs / e.wallMs).toFixed(2)} |`);
    });
    out();
    out(`Longest event-loop stall of each close (ha.stallSeconds must exceed it): embedded ${closeEmbedded.closes.map((c) => fmt(c.longestStallMs ?? 0)).join(' / ')} ms, PostgreSQL ${closePostgres.closes.map((c) => fmt(c.longestStallMs ?? 0)).join(' / ')} ms.`);
    out();
    out(`PostgreSQL server CPU over the whole PostgreSQL billing run (world built, ${closes} closes, reads, appends): ${fmt(closePostgres.serverCpuMs)} ms. One money record appended after the closes: embedded ${closeEmbedded.appendMedianMs.toFixed(3)} ms, PostgreSQL ${closePostgres.appendMedianMs.toFixed(3)} ms (median of 20).`);
  } finally {
    await teardown.run();
  }
}

if (process.argv[2] === 'open') await openChild(process.argv[3] as string, process.argv[4] as string);
else if (process.argv[2] === 'replay') await replayChild(process.argv[3] as string, process.argv[4] as string);
else if (process.argv[2] === 'timeline-open') timelineOpenChild(process.argv[3] as string);
else if (process.argv[2] === 'timeline') await timelineMain();
else await main();
