// bench/billing: billing periods closed for 100,000 (or BENCH_DEPLOYMENTS) active deployments with v2 receipts (one signed tree head per close), where the time goes, and verifying one receipt offline.
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { availableParallelism, tmpdir } from 'node:os';
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { pino } from 'pino';
import { createSigner, loadLibsodium, newIdentity, randomBytes, sign as signOnce, toBase64, toHex, type Identity } from '../src/identity/index.js';
import { BillingService } from '../src/gateway/billing/billing-service.js';
import { ReceiptLog, type MoneyRecord } from '../src/gateway/billing/receipt-log.js';
import type { BatchPostResult, BillingEvent, Ledger } from '../src/gateway/ledger/ledger.js';
import type { DeploymentRecord } from '../src/gateway/store/records.js';
import { UptimeBook } from '../src/gateway/uptime/uptime-book.js';
import type { Clock } from '../src/protocol/clock.js';
import { chainHeadBytes, RECEIPT_PURPOSE, receiptBody, signReceipt, verifyReceipt, type AnyReceipt, type ReceiptAgentHead, type ReceiptBodyV2 } from '../src/protocol/receipt.js';
import { median } from './measure.js';
import { PgDatabase } from '../src/gateway/store/postgres/pg-database.js';
import { PgMoneyStore } from '../src/gateway/store/postgres/pg-money-store.js';
import { FakeEventSink } from '../test/helpers/fake-event-sink.js';
import { FakeTable } from '../test/helpers/fake-table.js';

/** Deployments billed per period (BENCH_DEPLOYMENTS to try fewer). */
// The gateway's primitives (Gateway.start loads libsodium): the close hashes every receipt.
await loadLibsodium();

const DEPLOYMENTS = Number(process.env.BENCH_DEPLOYMENTS ?? 100_000);
/** Seconds between up-time samples of each VM: production's heartbeat interval (docs/architecture.md "Agents and up-time"). */
const SAMPLE_SECONDS = Number(process.env.BENCH_SAMPLE_SECONDS ?? 15);
/** Consecutive closes (BENCH_CLOSES; 1 for a million deployments, whose receipts the log keeps in memory). */
const CLOSES = Number(process.env.BENCH_CLOSES ?? 3);
/** Offline verifications timed per receipt version. */
const VERIFY_ROUNDS = Number(process.env.BENCH_VERIFY_ROUNDS ?? 2000);
/** Single appends timed against the full log. */
const APPENDS = Number(process.env.BENCH_APPENDS ?? 100);
/** The money log in this PostgreSQL database instead of receipts.log (BENCH_DATABASE_URL; bench/store sets it). */
const DATABASE_URL = process.env.BENCH_DATABASE_URL;
/** Records between money-log checkpoints (BENCH_CHECKPOINT_EVERY; 0 turns them off — at 1M deployments the checkpoint's JSON is longer than V8's longest string); unset, ReceiptLog's default. */
const CHECKPOINT_EVERY = process.env.BENCH_CHECKPOINT_EVERY === undefined ? undefined : Number(process.env.BENCH_CHECKPOINT_EVERY);
/** Also print each close's numbers as one JSON line (`bench/billing json: …`) for bench/store. */
const JSON_OUT = process.env.BENCH_JSON === '1';
/** A CPU profile of each close alone (`close-<k>.cpuprofile`, for Chrome DevTools) written into this folder (BENCH_PROFILE_DIR). */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
/** An allocation profile of each close alone (`close-<k>.heapprofile`, V8's sampling heap profiler, counting what the young and old collections freed too) written into this folder (BENCH_HEAP_PROFILE_DIR): what the close allocates, by function. */
const HEAP_PROFILE_DIR = process.env.BENCH_HEAP_PROFILE_DIR;
const PERIOD_MS = 3_600_000;
const SAMPLE_MS = SAMPLE_SECONDS * 1000;
const FARMERS = 100;
const NODES_PER_FARMER = 10;
const CUSTOMERS = 2_000;
const OFFERS = [
  { id: 'small', pricePerHour: '0.050000' },
  { id: 'medium', pricePerHour: '0.100000' },
  { id: 'large', pricePerHour: '0.400000' },
] as const;

const out = (line = ''): boolean => process.stdout.write(line + '\n');
const msSince = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;
const cpuMsSince = (from: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1000;
};
const mib = (kib: number): string => (kib / 1024).toFixed(0);
const fmt = (ms: number, digits = 0): string => ms.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** GC pauses as the runtime reports them, so a window's share can be summed. */
const gcPauses: PerformanceEntry[] = [];
const gcObserver = new PerformanceObserver((list) => gcPauses.push(...list.getEntries()));
gcObserver.observe({ entryTypes: ['gc'] });

/** GC pauses of one close by kind (ms and count), and the pause within its issue calls. */
interface GcSplit {
  /** All pauses (scavenges, mark-compact finalisations, incremental marking steps, weak callbacks). */
  totalMs: number;
  scavengeMs: number;
  scavenges: number;
  /** Mark-compact pauses (the finalising atomic pause of a full GC). */
  majorMs: number;
  majors: number;
  /** Incremental marking steps done on the main thread. */
  incrementalMs: number;
  /** Pauses that began inside `issue` (the close's critical path). */
  inIssueMs: number;
}

/** The GC pauses that began within [fromMs, toMs) of performance.now(), split by kind; `issue` windows name the issue calls. */
async function gcWithin(fromMs: number, toMs: number, issue: ReadonlyArray<readonly [number, number]>): Promise<GcSplit> {
  await new Promise((resolve) => setTimeout(resolve, 50));
  const split: GcSplit = { totalMs: 0, scavengeMs: 0, scavenges: 0, majorMs: 0, majors: 0, incrementalMs: 0, inIssueMs: 0 };
  for (const e of gcPauses) {
    if (e.startTime < fromMs || e.startTime >= toMs) continue;
    const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
    split.totalMs += e.duration;
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) {
      split.scavengeMs += e.duration;
      split.scavenges++;
    } else if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
      split.majorMs += e.duration;
      split.majors++;
    } else if (kind === perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL) split.incrementalMs += e.duration;
    if (issue.some(([a, b]) => e.startTime >= a && e.startTime < b)) split.inIssueMs += e.duration;
  }
  return split;
}

/** A fake ledger that answers every billing event and payout "paid" at once (no network, no funds check). */
class FakeInstantLedger implements Ledger {
  readonly kind = 'embedded' as const;
  posts = 0;
  payouts = 0;
  balance(): Promise<{ unit: string; availableMicros: bigint }> {
    return Promise.resolve({ unit: 'SPORE', availableMicros: 10n ** 15n });
  }
  postBillingEvent(): Promise<{ status: 'paid'; entryId: string }> {
    return Promise.resolve({ status: 'paid', entryId: `fake-${++this.posts}` });
  }
  /** A customer's batch in one call, as both real ledgers take it (settle's batched path). */
  postBillingEvents(_customer: string, events: readonly BillingEvent[]): Promise<BatchPostResult> {
    const id = `fake-${++this.posts}`;
    return Promise.resolve({ status: 'paid', entryIds: events.map(() => id) });
  }
  payFarmer(): Promise<{ status: 'paid'; entryId: string }> {
    return Promise.resolve({ status: 'paid', entryId: `fake-payout-${++this.payouts}` });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The peak resident set since the last reset, in KiB (VmHWM; Linux can reset it via clear_refs). */
class PeakRss {
  private readonly resettable: boolean;
  constructor() {
    let ok = false;
    try {
      writeFileSync('/proc/self/clear_refs', '5');
      ok = true;
    } catch {
      ok = false;
    }
    this.resettable = ok;
  }
  /** Starts a new window; returns the RSS now (KiB). */
  reset(): number {
    if (this.resettable) writeFileSync('/proc/self/clear_refs', '5');
    return statusKib('VmRSS');
  }
  /** The peak since reset() (or since the process started, when the kernel cannot reset it). */
  peak(): number {
    return this.resettable ? statusKib('VmHWM') : process.resourceUsage().maxRSS;
  }
  get scope(): string {
    return this.resettable ? 'during the close (VmHWM reset just before)' : 'process lifetime peak (maxRSS)';
  }
}

function statusKib(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : process.memoryUsage().rss / 1024;
}

interface World {
  readonly gateway: Identity;
  readonly signer: (message: Uint8Array) => Uint8Array;
  readonly farmers: Identity[];
  readonly deployments: FakeTable<DeploymentRecord>;
  readonly uptime: UptimeBook;
  readonly heads: Map<string, ReceiptAgentHead>;
  readonly clock: { ms: number } & Clock;
}

/** 100 farmers of 10 nodes, 2,000 customers, and DEPLOYMENTS active VMs spread over them, active since before t0. */
function buildWorld(t0: number): World {
  const entropy = nodeRandomBytes(DEPLOYMENTS * 64);
  let used = 0;
  const take = (n: number): Uint8Array => entropy.subarray(used, (used += n));
  const gateway = newIdentity();
  const farmers = Array.from({ length: FARMERS }, () => newIdentity());
  const customers = Array.from({ length: CUSTOMERS }, () => newIdentity().agent);
  const deployments = new FakeTable<DeploymentRecord>();
  for (let i = 0; i < DEPLOYMENTS; i++) {
    const farmer = i % FARMERS;
    const offer = OFFERS[i % OFFERS.length] as (typeof OFFERS)[number];
    const id = `dep_${toHex(take(8))}`;
    void deployments.put(id, {
      id,
      order: `ord_${toHex(take(8))}`,
      customer: customers[i % CUSTOMERS] as string,
      offer: offer.id,
      name: `vm-${i}`,
      pricePerHour: offer.pricePerHour,
      unit: 'SPORE',
      sshKeys: [`ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${toBase64(take(24))} customer-${i}`],
      provisioner: 'agent',
      node: `node-f${farmer}-${Math.floor(i / FARMERS) % NODES_PER_FARMER}`,
      farmer: (farmers[farmer] as Identity).agent,
      myceliumIp: `5${toHex(take(1))}:${toHex(take(2))}::ff0f:${toHex(take(2))}`,
      vmRef: { seed: toHex(take(6)) },
      state: 'active',
      createdAtMs: t0 - 86_400_000,
      activatedAtMs: t0 - 86_300_000,
    });
  }
  const clock = { ms: t0, nowMs: () => clock.ms, toRealMs: (d: number) => d };
  return { gateway, signer: createSigner(gateway.secretKey), farmers, deployments, uptime: new UptimeBook(SAMPLE_MS, PERIOD_MS), heads: new Map(), clock };
}

/**
 * Up-time samples for [startMs, endMs): each VM heard every SAMPLE_SECONDS (phase spread per
 * farmer), one sample just past the end so the last interval is credited, and one VM in 100
 * down for ten minutes. Also each farmer's signed chain head for the period.
 */
function feedPeriod(w: World, startMs: number, endMs: number): number {
  let samples = 0;
  let i = 0;
  for (const d of w.deployments.values()) {
    const phase = (i * 7919) % SAMPLE_MS;
    const outage = i % 100 === 7;
    for (let t = startMs + phase - SAMPLE_MS; t <= endMs + phase; t += SAMPLE_MS) {
      const down = outage && t >= startMs + 600_000 && t < startMs + 1_200_000;
      w.uptime.record(`vm:${d.id}`, { atMs: t, up: !down });
      samples++;
    }
    i++;
  }
  for (const f of w.farmers) {
    const statement = { agent: f.agent, gateway: w.gateway.agent, periodStartMs: startMs, periodEndMs: endMs, seq: Math.floor(endMs / SAMPLE_MS), head: toHex(randomBytes(32)) };
    const { agent: _a, gateway: _g, ...head } = statement;
    w.heads.set(`${f.agent} ${startMs}`, { ...head, signature: toBase64(signOnce(f.secretKey, chainHeadBytes(statement))) });
  }
  return samples;
}

/** Where one close spent its time (measured in place by wrapping the service's parts). */
interface CloseTiming {
  wallMs: number;
  /** CPU time of this process during the close (user + system): steadier than wall time on a shared machine. */
  cpuMs: number;
  issueMs: number;
  /** CPU time (user + system) of the process within issue, store and settle. */
  issueCpuMs: number;
  storeCpuMs: number;
  settleCpuMs: number;
  signMs: number;
  signatures: number;
  storeMs: number;
  settleMs: number;
  settleAppends: number;
  gcMs: number;
  gc: GcSplit;
  rssBeforeKib: number;
  peakKib: number;
  issued: number;
  countersignRequests: number;
  /** V8 heap in use after the close and a full GC (only with --expose-gc; else -1): what stays. */
  heapAfterKib: number;
  /** Receipts ReceiptLog holds whole after the close (its working set). */
  heldReceipts: number;
  /** Ledger calls (billing events + payouts) in the close. */
  ledgerCalls: number;
  /** The longest time the event loop did not run during the close (what the HA lease's stall bound must exceed). */
  longestStallMs: number;
}

/** The service over a real ReceiptLog, UptimeBook and signer, with fakes for the rest; returns a probe for each close. */
function buildService(w: World, receipts: ReceiptLog, ledger: FakeInstantLedger, events: FakeEventSink): { service: BillingService; close: (s: number, e: number, peak: PeakRss) => Promise<CloseTiming> } {
  const zero = (): CloseTiming => ({ wallMs: 0, cpuMs: 0, issueMs: 0, issueCpuMs: 0, storeCpuMs: 0, settleCpuMs: 0, signMs: 0, signatures: 0, storeMs: 0, settleMs: 0, settleAppends: 0, gcMs: 0, gc: { totalMs: 0, scavengeMs: 0, scavenges: 0, majorMs: 0, majors: 0, incrementalMs: 0, inIssueMs: 0 }, rssBeforeKib: 0, peakKib: 0, issued: 0, countersignRequests: 0, heapAfterKib: -1, heldReceipts: 0, ledgerCalls: 0, longestStallMs: 0 });
  const t = zero();
  let inSettle = false;
  let profiled = 0;
  const profiler = PROFILE_DIR === undefined ? undefined : new Session();
  if (profiler) {
    mkdirSync(PROFILE_DIR as string, { recursive: true });
    profiler.connect();
    void profiler.post('Profiler.enable');
  }
  const heapProfiler = HEAP_PROFILE_DIR === undefined ? undefined : new Session();
  if (heapProfiler) {
    mkdirSync(HEAP_PROFILE_DIR as string, { recursive: true });
    heapProfiler.connect();
    void heapProfiler.post('HeapProfiler.enable');
  }
  const service = new BillingService({
    clock: w.clock,
    gateway: {
      agent: w.gateway.agent,
      sign: (message) => {
        const s = process.hrtime.bigint();
        const signature = w.signer(message);
        t.signMs += msSince(s);
        t.signatures++;
        return signature;
      },
    },
    receipts,
    deployments: w.deployments,
    uptime: w.uptime,
    ledger,
    lifecycle: {
      setPaused: () => Promise.reject(new Error('bench: no deployment should enter grace (the fake ledger pays everything)')),
      end: () => Promise.reject(new Error('bench: no deployment should end')),
    },
    agents: {
      agentHead: (agent, periodStartMs) => w.heads.get(`${agent} ${periodStartMs}`) ?? null,
      requestCountersign: () => undefined,
      verifyCountersignature: () => false,
      requestBatchCountersign: () => void t.countersignRequests++,
    },
    events,
    log: pino({ level: 'silent' }),
    policy: { farmerShareBps: 9000, graceMs: 72 * PERIOD_MS, pauseInGrace: true, periodMs: PERIOD_MS },
  });
  // Storing overlaps issuing (each receipt batch is synced while the next chunk is issued): store = the close's appends from the first to the tree head's, less the issuing done meanwhile.
  let storeFrom: { at: bigint; cpu: NodeJS.CpuUsage } | undefined;
  let issueInStore = { ms: 0, cpuMs: 0 };
  let issueWindows: Array<readonly [number, number]> = [];
  const rawIssue = service.issue.bind(service);
  service.issue = (run, max) => {
    const start = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const from = performance.now();
    const issued = rawIssue(run, max);
    issueWindows.push([from, performance.now()]);
    const ms = msSince(start);
    const cpuMs = cpuMsSince(cpu);
    t.issueMs += ms;
    t.issueCpuMs += cpuMs;
    if (storeFrom) issueInStore = { ms: issueInStore.ms + ms, cpuMs: issueInStore.cpuMs + cpuMs };
    t.issued += issued;
    return issued;
  };
  const rawSettle = service.settle.bind(service);
  service.settle = async () => {
    const start = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    inSettle = true;
    try {
      await rawSettle();
    } finally {
      inSettle = false;
      t.settleMs += msSince(start);
      t.settleCpuMs += cpuMsSince(cpu);
    }
  };
  const rawAppend = receipts.append.bind(receipts);
  receipts.append = async (records: MoneyRecord[], texts?: Parameters<ReceiptLog['append']>[1]) => {
    if (!inSettle && !storeFrom) storeFrom = { at: process.hrtime.bigint(), cpu: process.cpuUsage() };
    await rawAppend(records, texts);
    if (inSettle) t.settleAppends += records.length > 0 ? 1 : 0;
    else if (storeFrom) {
      t.storeMs = msSince(storeFrom.at) - issueInStore.ms;
      t.storeCpuMs = cpuMsSince(storeFrom.cpu) - issueInStore.cpuMs;
    }
  };
  const close = async (s: number, e: number, peak: PeakRss): Promise<CloseTiming> => {
    Object.assign(t, zero());
    storeFrom = undefined;
    issueInStore = { ms: 0, cpuMs: 0 };
    issueWindows = [];
    w.clock.ms = e + 60_000;
    t.rssBeforeKib = peak.reset();
    const from = performance.now();
    const cpu = process.cpuUsage();
    const calls = ledger.posts + ledger.payouts;
    const start = process.hrtime.bigint();
    const stalls = monitorEventLoopDelay({ resolution: 10 });
    stalls.enable();
    await profiler?.post('Profiler.start');
    await heapProfiler?.post('HeapProfiler.startSampling', { samplingInterval: 64 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    await service.closePeriod(s, e);
    stalls.disable();
    t.longestStallMs = stalls.max / 1e6;
    t.wallMs = msSince(start);
    const used = process.cpuUsage(cpu);
    if (heapProfiler) {
      const { profile } = await heapProfiler.post('HeapProfiler.stopSampling');
      writeFileSync(join(HEAP_PROFILE_DIR as string, `close-${profiled + 1}.heapprofile`), JSON.stringify(profile));
      if (!profiler) profiled++;
    }
    if (profiler) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(join(PROFILE_DIR as string, `close-${++profiled}.cpuprofile`), JSON.stringify(profile));
    }
    t.cpuMs = (used.user + used.system) / 1000;
    t.peakKib = peak.peak();
    t.gc = await gcWithin(from, performance.now(), issueWindows);
    t.gcMs = t.gc.totalMs;
    t.ledgerCalls = ledger.posts + ledger.payouts - calls;
    t.heldReceipts = receipts.footprint().receipts;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) {
      gc();
      t.heapAfterKib = process.memoryUsage().heapUsed / 1024;
    }
    if (t.issued !== DEPLOYMENTS) throw new Error(`bench: ${t.issued} receipts issued, expected ${DEPLOYMENTS}`);
    return { ...t };
  };
  return { service, close };
}

/** Microseconds per call of `fn`, the median of 5 interleaved rounds. */
function microsEach(fns: Array<() => unknown>, rounds: number): number[] {
  const samples = fns.map(() => [] as number[]);
  for (let r = 0; r < 5; r++) {
    fns.forEach((fn, k) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < rounds; i++) fn();
      samples[k]?.push((1000 * msSince(start)) / rounds);
    });
  }
  return samples.map((s) => median(s));
}

const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'hypha-bench-billing-'));
try {
  const t0 = Math.floor(Date.now() / PERIOD_MS) * PERIOD_MS - (CLOSES + 1) * PERIOD_MS;
  const periods = Array.from({ length: CLOSES }, (_, k) => [t0 + k * PERIOD_MS, t0 + (k + 1) * PERIOD_MS] as const);
  const setupStart = process.hrtime.bigint();
  const w = buildWorld(t0);
  const db = DATABASE_URL ? await PgDatabase.open({ url: DATABASE_URL }) : undefined;
  const receipts = db ? (await ReceiptLog.over((replay) => PgMoneyStore.open(db, replay))).receipts : ReceiptLog.open(join(dir, 'receipts.log'), CHECKPOINT_EVERY === undefined ? {} : { checkpointEvery: CHECKPOINT_EVERY }).receipts;
  const ledger = new FakeInstantLedger();
  const events = new FakeEventSink();
  const { close } = buildService(w, receipts, ledger, events);
  const peak = new PeakRss();
  const setupMs = msSince(setupStart);

  const closes: CloseTiming[] = [];
  let samplesPerPeriod = 0;
  // Bare signing of as many messages just before each close (the machine is shared: its load moves), for a same-moment ratio.
  const bareBefore: number[] = [];
  const message = Buffer.alloc(900, 0x61);
  for (const p of periods) {
    samplesPerPeriod = feedPeriod(w, ...p);
    const cpu = process.cpuUsage();
    for (let i = 0; i < DEPLOYMENTS; i++) w.signer(message);
    bareBefore.push(cpuMsSince(cpu));
    closes.push(await close(...p, peak));
    w.uptime.prune(p[1]);
  }

  // Bare signing of as many receipt bodies as one close issues: what v1 spent on one signature per receipt.
  const last = periods[periods.length - 1] as readonly [number, number];
  const served = await Promise.all((await receipts.of(w.deployments.values()[0]?.id as string)).map((e) => receipts.present(e)));
  const v2 = served[served.length - 1] as AnyReceipt;
  const v1 = signReceipt({ ...receiptBody<ReceiptBodyV2>(v2), v: 1, purpose: RECEIPT_PURPOSE } as unknown as Parameters<typeof signReceipt>[0], w.gateway.secretKey);
  if (!verifyReceipt(v2, w.gateway.agent).ok || !verifyReceipt(v1, w.gateway.agent).ok) throw new Error('bench: a receipt does not verify');
  const bodyBytes = Buffer.from(JSON.stringify(receiptBody(v2)));
  const bareSignCpu = process.cpuUsage();
  const bareSignStart = process.hrtime.bigint();
  for (let i = 0; i < Math.min(DEPLOYMENTS, 100_000); i++) w.signer(bodyBytes);
  const bareSignMs = (msSince(bareSignStart) * DEPLOYMENTS) / Math.min(DEPLOYMENTS, 100_000);
  const bareCpu = process.cpuUsage(bareSignCpu);
  const bareSignCpuMs = (((bareCpu.user + bareCpu.system) / 1000) * DEPLOYMENTS) / Math.min(DEPLOYMENTS, 100_000);
  const [v1Micros, v2Micros] = microsEach([() => verifyReceipt(v1, w.gateway.agent), () => verifyReceipt(v2, w.gateway.agent)], VERIFY_ROUNDS) as [number, number];

  // One record appended with every receipt of the run stored, against this disk's write + fdatasync floor.
  const oneId = ((await receipts.of(w.deployments.values()[1]?.id as string)).at(-1) as { receipt: { id: string } }).receipt.id;
  const floorFd = openSync(join(dir, 'floor.log'), 'a', 0o600);
  const appendMs: number[] = [];
  const floorMs: number[] = [];
  for (let i = 0; i < APPENDS; i++) {
    let s = process.hrtime.bigint();
    await receipts.append([{ t: 'countersign_refused', id: oneId, reason: 'bench', atMs: last[1] }]);
    appendMs.push(msSince(s));
    s = process.hrtime.bigint();
    writeSync(floorFd, `{"t":"countersign_refused","id":"${oneId}","reason":"bench","atMs":${last[1]}}\n`);
    fdatasyncSync(floorFd);
    floorMs.push(msSince(s));
  }
  closeSync(floorFd);
  receipts.close();
  await db?.close();
  if (JSON_OUT) out(`bench/billing json: ${JSON.stringify({ store: db ? 'postgres' : 'embedded', deployments: DEPLOYMENTS, closes, appendMedianMs: median(appendMs) })}`);

  const n = DEPLOYMENTS.toLocaleString('en-US');
  out(`## bench/billing: closing a period for ${n} active deployments (receipts v2)`);
  out();
  out(`Money log: ${db ? `PostgreSQL (${db.where})` : 'receipts.log'}. Node ${process.version}, ${process.platform}/${process.arch}, ${availableParallelism()} cores; files in a temp dir on ${tmpdir()} (removed after). Up-time: one sample per VM every ${SAMPLE_SECONDS} s, ${fmt(samplesPerPeriod)} samples per period; world built in ${fmt(setupMs)} ms (not timed).`);
  out('Real: BillingService, ReceiptLog (fdatasync on this disk), UptimeBook, createSigner (node:crypto ed25519), the close hasher (its worker thread hashes the bodies and builds the tree while they are issued; process CPU counts it). Fakes: the deployments Table (a Map), a ledger that answers "paid" at once, an event sink and agents that only count.');
  out('Timed: `closePeriod` = issue (up-time, charge, canonical JSON; handed to the hasher) + the close appended (receipts in fsynced batches once hashed, each synced while the next chunk is issued; the head last; store = from the first append to the end of the head, less the issuing meanwhile, so it holds any wait for hashes and the root) + one countersign request per farmer + settle (billing events and payouts through the fake ledger, their records appended and fsynced in batches, the grace scan).');
  out();
  out(`| close | receipts | whole close (ms) | aim ≤ 5 s | CPU (ms) | issue (ms) | tree + head (ms) | ed25519 signatures | store (ms) | settle (ms) | CPU of issue / store / settle (ms) | ledger calls | GC pauses (ms) | RSS before (MiB) | peak RSS in close (MiB) | aim ≤ 1 GiB | heap after close + full GC (MiB) | receipts held whole after |`);
  out('|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|');
  closes.forEach((c, k) => {
    const treeMs = c.wallMs - c.issueMs - c.storeMs - c.settleMs;
    const name = k === 0 ? 'period 1 (first receipts, log empty)' : `period ${k + 1} (chained; ${(k * DEPLOYMENTS).toLocaleString('en-US')} receipts stored)`;
    out(`| ${name} | ${fmt(c.issued)} | ${fmt(c.wallMs)} | ${c.wallMs <= 5000 ? 'met' : 'missed'} | ${fmt(c.cpuMs)} | ${fmt(c.issueMs)} | ${fmt(treeMs)} | ${c.signatures} | ${fmt(c.storeMs)} | ${fmt(c.settleMs)} | ${fmt(c.issueCpuMs)} / ${fmt(c.storeCpuMs)} / ${fmt(c.settleCpuMs)} | ${fmt(c.ledgerCalls)} | ${fmt(c.gcMs)} | ${mib(c.rssBeforeKib)} | ${mib(c.peakKib)} | ${c.peakKib <= 1024 * 1024 ? 'met' : 'missed'} | ${c.heapAfterKib < 0 ? '— (run with --expose-gc)' : mib(c.heapAfterKib)} | ${fmt(c.heldReceipts)} |`);
  });
  out();
  out(`GC pauses by kind in each close, scavenges (count) / mark-compact (count) / incremental marking / within issue, ms: ${closes.map((c) => `${fmt(c.gc.scavengeMs)} (${c.gc.scavenges}) / ${fmt(c.gc.majorMs)} (${c.gc.majors}) / ${fmt(c.gc.incrementalMs)} / ${fmt(c.gc.inIssueMs)}`).join('; ')}. V8 flags: ${process.execArgv.join(' ') || 'none'}.`);
  out(`Longest event-loop stall in each close (monitorEventLoopDelay max, 10 ms resolution; ha.stallSeconds must exceed it): ${closes.map((c) => fmt(c.longestStallMs)).join(' / ')} ms.`);
  const health = receipts.checkpointHealth();
  out(`Money-log checkpoints that could not be encoded or written during the run: ${health.failures}${health.lastError === null ? '' : ` (last: ${health.lastError})`}.`);
  out(`tree + head = the rest of the close: the root (built by the hasher as the receipts were hashed), the one signature, the countersign requests (${closes[0]?.countersignRequests ?? 0} farmers) and the event. Peak RSS: ${peak.scope}.`);
  out(`Against, just before each close: ${n} bare ed25519 signatures of a 900-byte message took ${bareBefore.map((ms) => fmt(ms)).join(' / ')} ms CPU; close CPU / that: ${closes.map((c, k) => (c.cpuMs / (bareBefore[k] ?? 1)).toFixed(2)).join(' / ')}.`);
  out(`Against, same run: ${n} ed25519 signatures (what v1 spent, one per receipt) take ${fmt(bareSignMs)} ms (${fmt(bareSignCpuMs)} ms CPU) on one core; the last close took ${((closes[closes.length - 1]?.wallMs ?? 0) / bareSignMs).toFixed(2)}x that wall time and ${((closes[closes.length - 1]?.cpuMs ?? 0) / bareSignCpuMs).toFixed(2)}x that CPU.`);
  out();
  out('| verify one receipt offline (`verifyReceipt`, pinned gateway) | µs | ratio to v1 |');
  out('|---|---:|---:|');
  out(`| v1: gateway signature + agent head signature | ${v1Micros.toFixed(0)} | 1.00 |`);
  out(`| v2: tree-head signature + inclusion proof (${(v2 as { proof: readonly string[] }).proof.length} hashes) + agent head signature | ${v2Micros.toFixed(0)} | ${(v2Micros / v1Micros).toFixed(2)} |`);
  out();
  out(`One money record appended with ${fmt(receipts.count())} receipts stored: median ${median(appendMs).toFixed(3)} ms (aim < 1 ms); this disk's write + fdatasync floor ${median(floorMs).toFixed(3)} ms.`);
} finally {
  gcObserver.disconnect();
  rmSync(dir, { recursive: true, force: true });
}
