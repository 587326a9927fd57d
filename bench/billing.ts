// bench/billing: a billing period closed for 100,000 active deployments (receipts signed, fsynced and settled), and one receipt append against a lowdb rewrite.
import { closeSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { availableParallelism, tmpdir } from 'node:os';
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { blake2b } from '@noble/hashes/blake2.js';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import sodium from 'libsodium-wrappers';
import { pino } from 'pino';
import { concatBytes, createSigner, newIdentity, randomBytes, sign as signOnce, toBase64, toHex, utf8, type Identity } from '../src/identity/index.js';
import { BillingService, receiptBodyFor } from '../src/gateway/billing/billing-service.js';
import { ReceiptLog, type MoneyRecord } from '../src/gateway/billing/receipt-log.js';
import type { Ledger } from '../src/gateway/ledger/ledger.js';
import { LowdbStore } from '../src/gateway/store/lowdb-store.js';
import type { DeploymentRecord } from '../src/gateway/store/records.js';
import { UptimeBook } from '../src/gateway/uptime/uptime-book.js';
import { computeCharge } from '../src/protocol/charge.js';
import type { Clock } from '../src/protocol/clock.js';
import { formatAmount, parseAmount } from '../src/protocol/money.js';
import { chainHeadBytes, receiptHash, receiptId, receiptSigningBytes, type Receipt, type ReceiptAgentHead, type ReceiptBody } from '../src/protocol/receipt.js';
import type { SignRequest, SignResponse, SignWorkerData } from './billing-sign-worker.js';
import { median } from './measure.js';
import { FakeEventSink } from '../test/helpers/fake-event-sink.js';
import { FakeTable } from '../test/helpers/fake-table.js';

/** Deployments billed per period (BENCH_DEPLOYMENTS to try fewer). */
const DEPLOYMENTS = Number(process.env.BENCH_DEPLOYMENTS ?? 100_000);
/** Seconds between up-time samples of each VM: production's heartbeat interval (docs/architecture.md "Agents and up-time"). */
const SAMPLE_SECONDS = Number(process.env.BENCH_SAMPLE_SECONDS ?? 15);
/** Single appends timed against the 100k-receipt log (BENCH_APPENDS). */
const APPENDS = Number(process.env.BENCH_APPENDS ?? 200);
/** lowdb rewrites timed per adapter (each is slow, so fewer). */
const LOWDB_WRITES = Number(process.env.BENCH_LOWDB_WRITES ?? 20);
/** Rounds of each issue variant in the prototype comparison. */
const ISSUE_ROUNDS = Number(process.env.BENCH_ISSUE_ROUNDS ?? 2);
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

await sodium.ready;

const out = (line = ''): boolean => process.stdout.write(line + '\n');
const msSince = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;
const mib = (kib: number): string => (kib / 1024).toFixed(0);
const fmt = (ms: number, digits = 0): string => ms.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** GC pauses as the runtime reports them, so a window's share can be summed. */
const gcPauses: PerformanceEntry[] = [];
const gcObserver = new PerformanceObserver((list) => gcPauses.push(...list.getEntries()));
gcObserver.observe({ entryTypes: ['gc'] });

/** Milliseconds of GC pause that began within [fromMs, toMs) of performance.now(). */
async function gcMsWithin(fromMs: number, toMs: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 50));
  return gcPauses.filter((e) => e.startTime >= fromMs && e.startTime < toMs).reduce((sum, e) => sum + e.duration, 0);
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

/** Signing spread over worker threads: a prototype of what the gateway could do (src/ is unchanged). */
class SignerPool {
  private next = 0;
  private id = 0;
  private readonly waiting = new Map<number, (response: SignResponse) => void>();

  private constructor(private readonly workers: Worker[]) {
    for (const w of workers) w.on('message', (m: SignResponse) => this.waiting.get(m.id)?.(m));
  }

  /** Starts `n` workers holding the gateway key and waits until each has signed once. */
  static async start(n: number, secretKey: Uint8Array): Promise<SignerPool> {
    const data: SignWorkerData = { secretKeyHex: toHex(secretKey) };
    const pool = new SignerPool(Array.from({ length: n }, () => new Worker(new URL('./billing-sign-worker.js', import.meta.url), { workerData: data })));
    await Promise.all(pool.workers.map(() => pool.sign([utf8('warm-up')])));
    return pool;
  }

  /** Signs messages on the next worker; resolves with their 64-byte signatures back to back. */
  async sign(messages: Uint8Array[]): Promise<Uint8Array> {
    let total = 0;
    for (const m of messages) total += m.length;
    const bytes = new Uint8Array(total);
    const ends = new Uint32Array(messages.length);
    let at = 0;
    messages.forEach((m, i) => {
      bytes.set(m, at);
      at += m.length;
      ends[i] = at;
    });
    const response = await this.send({ id: ++this.id, kind: 'bytes', bytes: bytes.buffer, ends }, [bytes.buffer, ends.buffer]);
    return new Uint8Array(response.signatures);
  }

  /** Has the next worker make the canonical JSON of bodies, sign it and hash it. */
  async signBodies(bodies: readonly ReceiptBody[]): Promise<{ signatures: Uint8Array; hashes: Uint8Array }> {
    const response = await this.send({ id: ++this.id, kind: 'bodies', json: JSON.stringify(bodies) }, []);
    return { signatures: new Uint8Array(response.signatures), hashes: new Uint8Array(response.hashes ?? new ArrayBuffer(0)) };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private send(request: SignRequest, transfer: ArrayBuffer[]): Promise<SignResponse> {
    const worker = this.workers[this.next++ % this.workers.length] as Worker;
    return new Promise((resolve) => {
      this.waiting.set(request.id, (response) => {
        this.waiting.delete(request.id);
        resolve(response);
      });
      worker.postMessage(request, transfer);
    });
  }
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
  issueMs: number;
  signMs: number;
  appendReceiptsMs: number;
  settleMs: number;
  settleAppends: number;
  gcMs: number;
  rssBeforeKib: number;
  peakKib: number;
  issued: Receipt[];
}

/** The service over a real ReceiptLog, UptimeBook and signer, with fakes for the rest; returns a probe for each close. */
function buildService(w: World, receipts: ReceiptLog, ledger: FakeInstantLedger, events: FakeEventSink): { service: BillingService; close: (s: number, e: number, peak: PeakRss) => Promise<CloseTiming> } {
  const t: CloseTiming = { wallMs: 0, issueMs: 0, signMs: 0, appendReceiptsMs: 0, settleMs: 0, settleAppends: 0, gcMs: 0, rssBeforeKib: 0, peakKib: 0, issued: [] };
  let inSettle = false;
  const service = new BillingService({
    clock: w.clock,
    gateway: {
      agent: w.gateway.agent,
      sign: (message) => {
        const s = process.hrtime.bigint();
        const signature = w.signer(message);
        t.signMs += msSince(s);
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
    },
    events,
    log: pino({ level: 'silent' }),
    policy: { farmerShareBps: 9000, graceMs: 72 * PERIOD_MS, pauseInGrace: true, periodMs: PERIOD_MS },
  });
  const rawIssue = service.issue.bind(service);
  service.issue = (s, e) => {
    const start = process.hrtime.bigint();
    const issued = rawIssue(s, e);
    t.issueMs += msSince(start);
    t.issued = issued.map((i) => i.receipt);
    return issued;
  };
  const rawSettle = service.settle.bind(service);
  service.settle = async () => {
    const start = process.hrtime.bigint();
    inSettle = true;
    try {
      await rawSettle();
    } finally {
      inSettle = false;
      t.settleMs += msSince(start);
    }
  };
  const rawAppend = receipts.append.bind(receipts);
  receipts.append = async (records: MoneyRecord[]) => {
    const start = process.hrtime.bigint();
    await rawAppend(records);
    if (inSettle) t.settleAppends += records.length > 0 ? 1 : 0;
    else if (records[0]?.t === 'receipt') t.appendReceiptsMs += msSince(start);
  };
  const close = async (s: number, e: number, peak: PeakRss): Promise<CloseTiming> => {
    Object.assign(t, { wallMs: 0, issueMs: 0, signMs: 0, appendReceiptsMs: 0, settleMs: 0, settleAppends: 0, issued: [] });
    w.clock.ms = e + 60_000;
    t.rssBeforeKib = peak.reset();
    const from = performance.now();
    const start = process.hrtime.bigint();
    await service.closePeriod(s, e);
    t.wallMs = msSince(start);
    t.peakKib = peak.peak();
    t.gcMs = await gcMsWithin(from, performance.now());
    if (t.issued.length !== DEPLOYMENTS) throw new Error(`bench: ${t.issued.length} receipts issued, expected ${DEPLOYMENTS}`);
    return { ...t };
  };
  return { service, close };
}

/** How the prototype signs: on this thread, on workers (bytes made here), or on workers that also make the canonical JSON and hash. */
type SignMode = { readonly kind: 'inline' } | { readonly kind: 'bytes' | 'bodies'; readonly pool: SignerPool };

/** Receipts issued by the prototype, with the blake2b-256 hash (hex) of each one's signing bytes. */
interface Issued {
  readonly receipts: Receipt[];
  readonly hashes: string[];
}

/**
 * BillingService.issue as it could be: the same receipts, but each deployment's previous
 * receipt hash read from where it was kept when that receipt was appended (not recomputed),
 * each new receipt's hash made once from its signing bytes with libsodium, and optionally the
 * signing (or canonical JSON + signing + hashing) done on worker threads while this thread
 * builds the next bodies.
 */
async function issuePrototype(w: World, receipts: ReceiptLog, startMs: number, endMs: number, prevHash: ReadonlyMap<string, string>, mode: SignMode): Promise<Issued> {
  const CHUNK = 2048;
  const issuedAt = new Date(w.clock.nowMs()).toISOString();
  const bodies: ReceiptBody[] = [];
  const done: Receipt[] = [];
  const hashes: string[] = [];
  const pending: Promise<void>[] = [];
  let batch: Uint8Array[] = [];
  let batchFrom = 0;
  const settle = (from: number, signatures: Uint8Array, batchHashes: Uint8Array | null): void => {
    for (let i = 0; from + i < bodies.length && 64 * i < signatures.length; i++) {
      done[from + i] = { ...(bodies[from + i] as ReceiptBody), signatures: { gateway: toBase64(signatures.subarray(64 * i, 64 * i + 64)) } };
      if (batchHashes) hashes[from + i] = toHex(batchHashes.subarray(32 * i, 32 * i + 32));
    }
  };
  const flush = (): void => {
    if (mode.kind === 'inline' || bodies.length === batchFrom) return;
    const from = batchFrom;
    batchFrom = bodies.length;
    if (mode.kind === 'bytes') {
      const items = batch;
      batch = [];
      pending.push(mode.pool.sign(items).then((signatures) => settle(from, signatures, null)));
    } else {
      pending.push(mode.pool.signBodies(bodies.slice(from)).then((r) => settle(from, r.signatures, r.hashes)));
    }
  };
  for (const d of w.deployments.values()) {
    if (receipts.has(d.id, startMs)) continue;
    const body = receiptBodyFor(d, startMs, endMs, {
      upSeconds: (fromMs, toMs) => w.uptime.upSeconds(`vm:${d.id}`, fromMs, toMs),
      prev: prevHash.get(d.id) ?? null,
      agentHead: d.farmer ? (w.heads.get(`${d.farmer} ${startMs}`) ?? null) : null,
      gateway: w.gateway.agent,
      issuedAt,
      farmerShareBps: 9000,
    });
    if (!body) continue;
    bodies.push(body);
    if (mode.kind === 'bodies') {
      if (bodies.length - batchFrom === CHUNK) flush();
      continue;
    }
    const bytes = receiptSigningBytes(body);
    hashes.push(toHex(sodium.crypto_generichash(32, bytes, null)));
    if (mode.kind === 'inline') {
      done.push({ ...body, signatures: { gateway: toBase64(w.signer(bytes)) } });
      continue;
    }
    batch.push(bytes);
    if (batch.length === CHUNK) flush();
  }
  flush();
  await Promise.all(pending);
  return { receipts: done, hashes };
}

/**
 * ReceiptLog.append of a period's receipts as it could be: the same lines (JSON, then a
 * blake2b-128 hash chain, but with libsodium), one write and one fdatasync, and an index
 * update whose chain check compares `prev` with the hash kept for the deployment.
 */
function persistPrototype(fd: number, periodStartMs: number, issued: Issued, kept: Map<string, string>): void {
  let head: Uint8Array = new Uint8Array(16);
  const lines: string[] = [];
  issued.receipts.forEach((r, i) => {
    const text = JSON.stringify({ t: 'receipt', receipt: r, periodStartMs, key: `hypha:${r.deployment}:${new Date(periodStartMs).toISOString()}` });
    head = sodium.crypto_generichash(16, concatBytes(head, utf8(text)), null);
    lines.push(`{"n":${i + 1},"h":"${toHex(head)}","r":${text}}\n`);
  });
  const bytes = Buffer.from(lines.join(''), 'utf8');
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
  fdatasyncSync(fd);
  issued.receipts.forEach((r, i) => {
    parseAmount('amount', r.amount);
    parseAmount('farmerShare', r.farmerShare);
    if (r.prev !== (kept.get(r.deployment) ?? null)) throw new Error(`bench: ${r.id} does not chain to the kept hash`);
    kept.set(r.deployment, issued.hashes[i] as string);
  });
}

/** What a close does per receipt, stage by stage, re-measured over the receipts of one period. */
interface WorkCosts {
  readonly upMs: number;
  readonly receiptIdMs: number;
  readonly chargeMs: number;
  readonly bareSignMs: number;
  readonly canonicalMs: number;
  readonly noble256Ms: number;
  readonly sodium256Ms: number;
  readonly stringifyMs: number;
  readonly chainNobleMs: number;
  readonly chainSodiumMs: number;
  readonly writeSyncMs: number;
  readonly lineMib: number;
  /** One receipt's log record as JSON, for the single-append floor. */
  readonly oneText: string;
}

/** Re-measures each stage in its own loop; the big arrays it makes are dropped when it returns. */
function measureWork(w: World, r2: readonly Receipt[], p2: readonly [number, number], dir: string): WorkCosts {
  const upMs = timeEach(w.deployments.values(), (d) => w.uptime.upSeconds(`vm:${d.id}`, p2[0], p2[1]));
  const receiptIdMs = timeEach(r2, (r) => receiptId(r.deployment, p2[0]));
  const chargeMs = timeEach(w.deployments.values(), (d) => {
    const charge = computeCharge(parseAmount('pricePerHour', d.pricePerHour), 3599, 9000);
    return [formatAmount(charge.amountMicros), formatAmount(charge.farmerShareMicros), formatAmount(charge.feeMicros)];
  });
  const signing = r2.map((r) => receiptSigningBytes(r));
  const bareSignMs = timeEach(signing, (b) => w.signer(b));
  const canonicalMs = timeEach(r2, (r) => receiptSigningBytes(r));
  const noble256Ms = timeEach(signing, (b) => blake2b(b, { dkLen: 32 }));
  const sodium256Ms = timeEach(signing, (b) => sodium.crypto_generichash(32, b, null));
  if (toHex(sodium.crypto_generichash(32, signing[0] as Uint8Array, null)) !== toHex(blake2b(signing[0] as Uint8Array, { dkLen: 32 }))) throw new Error('bench: libsodium and @noble/hashes blake2b-256 differ');
  const receiptRecords: MoneyRecord[] = r2.map((r) => ({ t: 'receipt', receipt: r, periodStartMs: p2[0], key: key(r, p2[0]) }));
  const settleRecords: MoneyRecord[] = r2.flatMap((r): MoneyRecord[] => [
    { t: 'paid', id: r.id, entryId: 'fake-1234567', atMs: p2[1] + 60_000 },
    { t: 'payout', id: r.id, farmer: r.farmer, amountMicros: '45000', entryId: 'fake-payout-1234567', atMs: p2[1] + 60_000 },
  ]);
  let start = process.hrtime.bigint();
  const texts = receiptRecords.map((r) => JSON.stringify(r));
  const settleTexts = settleRecords.map((r) => JSON.stringify(r));
  const stringifyMs = msSince(start);
  const chainNobleMs = chainMs(texts, (m) => blake2b(m, { dkLen: 16 })) + chainMs(settleTexts, (m) => blake2b(m, { dkLen: 16 }));
  const chainSodiumMs = chainMs(texts, (m) => sodium.crypto_generichash(16, m, null)) + chainMs(settleTexts, (m) => sodium.crypto_generichash(16, m, null));
  const lineBytes = Buffer.from(texts.join('\n') + '\n', 'utf8');
  const scratch = openSync(join(dir, 'scratch.log'), 'w', 0o600);
  start = process.hrtime.bigint();
  for (let at = 0; at < lineBytes.length; ) at += writeSync(scratch, lineBytes, at);
  fdatasyncSync(scratch);
  const writeSyncMs = msSince(start);
  closeSync(scratch);
  return { upMs, receiptIdMs, chargeMs, bareSignMs, canonicalMs, noble256Ms, sodium256Ms, stringifyMs, chainNobleMs, chainSodiumMs, writeSyncMs, lineMib: lineBytes.length / 1048576, oneText: texts[0] as string };
}

/** The ledger idempotency key BillingService gives a receipt. */
function key(r: Receipt, periodStartMs: number): string {
  return `hypha:${r.deployment}:${new Date(periodStartMs).toISOString()}`;
}

/** Milliseconds of `fn` over each item. */
function timeEach<T>(items: Iterable<T>, fn: (item: T) => unknown): number {
  const start = process.hrtime.bigint();
  for (const item of items) fn(item);
  return msSince(start);
}

/** Milliseconds to hash-chain lines as AppendLog does: each head = hash(previous head || line). */
function chainMs(texts: readonly string[], hash: (message: Uint8Array) => Uint8Array): number {
  const start = process.hrtime.bigint();
  let head: Uint8Array = new Uint8Array(16);
  for (const text of texts) head = hash(concatBytes(head, utf8(text)));
  return msSince(start);
}

/** [median, p90] of a list of milliseconds. */
function stats(values: number[]): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  return [median(values), sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))] as number];
}

const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'hypha-bench-billing-'));
const pools: SignerPool[] = [];
try {
  const t0 = Math.floor(Date.now() / PERIOD_MS) * PERIOD_MS - 4 * PERIOD_MS;
  const periods = [0, 1, 2].map((k) => [t0 + k * PERIOD_MS, t0 + (k + 1) * PERIOD_MS] as const);
  const [p1, p2, p3] = periods as [readonly [number, number], readonly [number, number], readonly [number, number]];
  const setupStart = process.hrtime.bigint();
  const w = buildWorld(t0);
  const { receipts } = ReceiptLog.open(join(dir, 'receipts.log'));
  const ledger = new FakeInstantLedger();
  const events = new FakeEventSink();
  const { service, close } = buildService(w, receipts, ledger, events);
  const peak = new PeakRss();
  const setupMs = msSince(setupStart);

  // Period 1: every deployment's first receipt (prev null, the log empty).
  let fed = process.hrtime.bigint();
  const samplesPerPeriod = feedPeriod(w, ...p1);
  const feedMs = msSince(fed);
  const c1 = await close(...p1, peak);
  w.uptime.prune(p1[1]);

  // Period 2: the steady state: each receipt chains to the last one, 100k receipts already stored.
  fed = process.hrtime.bigint();
  feedPeriod(w, ...p2);
  const feed2Ms = msSince(fed);
  const c2 = await close(...p2, peak);

  // Per-receipt work, re-measured over the same receipts: what a close does now, and what the proposals would do.
  const r1 = c1.issued;
  const r2 = c2.issued;
  const costs = measureWork(w, r2, p2, dir);
  const { bareSignMs, canonicalMs, noble256Ms, sodium256Ms, chainNobleMs, chainSodiumMs, stringifyMs, writeSyncMs, upMs, receiptIdMs, chargeMs } = costs;
  w.uptime.prune(p2[1]);

  // Period 3: issue as it is against the prototypes (issue + persist), on the same inputs, interleaved; then the real close.
  feedPeriod(w, ...p3);
  w.clock.ms = p3[1] + 60_000;
  const prevHash = new Map(r2.map((r) => [r.deployment, receiptHash(r)]));
  pools.push(await SignerPool.start(1, w.gateway.secretKey), await SignerPool.start(2, w.gateway.secretKey));
  const [pool1, pool2] = pools as [SignerPool, SignerPool];
  const variants: Array<{ name: string; mode: SignMode | null }> = [
    { name: 'as is: BillingService.issue (+ ReceiptLog.append in the real period-3 close)', mode: null },
    { name: 'hash kept + libsodium hashing, one thread', mode: { kind: 'inline' } },
    { name: '… + signing on 1 worker', mode: { kind: 'bytes', pool: pool1 } },
    { name: '… + signing on 2 workers', mode: { kind: 'bytes', pool: pool2 } },
    { name: '… + canonical JSON, signing and hashing on 2 workers', mode: { kind: 'bodies', pool: pool2 } },
  ];
  const protoTimes = new Map(variants.map((v) => [v.name, { issue: [] as number[], persist: [] as number[] }]));
  let reference: Receipt[] | null = null;
  for (let round = 0; round < ISSUE_ROUNDS; round++) {
    for (const v of round % 2 ? [...variants].reverse() : variants) {
      const times = protoTimes.get(v.name) as { issue: number[]; persist: number[] };
      const s = process.hrtime.bigint();
      const got: Issued = v.mode ? await issuePrototype(w, receipts, ...p3, prevHash, v.mode) : { receipts: service.issue(...p3).map((i) => i.receipt), hashes: [] };
      times.issue.push(msSince(s));
      reference ??= got.receipts;
      if (got.receipts.length !== reference.length) throw new Error(`bench: ${v.name} issued ${got.receipts.length} receipts, not ${reference.length}`);
      for (let i = 0; i < got.receipts.length; i += 997) {
        if (JSON.stringify(got.receipts[i]) !== JSON.stringify(reference[i])) throw new Error(`bench: ${v.name} made a different receipt ${i}`);
        if (v.mode && got.hashes[i] !== receiptHash(got.receipts[i] as Receipt)) throw new Error(`bench: ${v.name} kept a wrong hash for receipt ${i}`);
      }
      if (!v.mode) continue;
      const fd = openSync(join(dir, 'prototype.log'), 'w', 0o600);
      const p = process.hrtime.bigint();
      persistPrototype(fd, p3[0], got, new Map(prevHash));
      times.persist.push(msSince(p));
      closeSync(fd);
    }
  }
  for (const p of pools.splice(0)) await p.close();
  const c3 = await close(...p3, peak);
  w.uptime.prune(p3[1]);

  // One append with 100k receipts stored, against lowdb rewriting the same 100k receipts.
  const logB = ReceiptLog.open(join(dir, 'append-100k.log')).receipts;
  await logB.append(r1.map((r) => ({ t: 'receipt', receipt: r, periodStartMs: p1[0], key: key(r, p1[0]) })));
  const store = await LowdbStore.open(join(dir, 'lowdb'));
  for (const r of r1) void store.meta.put(r.id, r);
  await store.flush();
  const jsonFile = new Low<{ receipts: Receipt[] }>(new JSONFile(join(dir, 'jsonfile.json')), { receipts: [] });
  jsonFile.data.receipts = [...r1];
  await jsonFile.write();
  const floorFd = openSync(join(dir, 'floor.log'), 'a', 0o600);
  const oneLine = Buffer.from(`${costs.oneText}\n`, 'utf8');
  const appendTimes: Record<'log' | 'store' | 'jsonfile' | 'floor', number[]> = { log: [], store: [], jsonfile: [], floor: [] };
  const perRound = Math.max(1, Math.round(APPENDS / LOWDB_WRITES));
  let next = 0;
  for (let round = 0; round < LOWDB_WRITES; round++) {
    let s = process.hrtime.bigint();
    const extra = r2[APPENDS + round] as Receipt;
    await store.meta.put(extra.id, extra);
    appendTimes.store.push(msSince(s));
    s = process.hrtime.bigint();
    jsonFile.data.receipts.push(extra);
    await jsonFile.write();
    appendTimes.jsonfile.push(msSince(s));
    for (let k = 0; k < perRound && next < APPENDS; k++, next++) {
      const r = r2[next] as Receipt;
      s = process.hrtime.bigint();
      await logB.append([{ t: 'receipt', receipt: r, periodStartMs: p2[0], key: key(r, p2[0]) }]);
      appendTimes.log.push(msSince(s));
      s = process.hrtime.bigint();
      writeSync(floorFd, oneLine);
      fdatasyncSync(floorFd);
      appendTimes.floor.push(msSince(s));
    }
  }
  closeSync(floorFd);
  await store.close();
  logB.close();
  receipts.close();

  // Report.
  const n = DEPLOYMENTS.toLocaleString('en-US');
  out(`## bench/billing: closing a period for ${n} active deployments`);
  out();
  out(`Node ${process.version}, ${process.platform}/${process.arch}, ${availableParallelism()} cores; files in a temp dir on ${tmpdir()} (removed after). Up-time: one sample per VM every ${SAMPLE_SECONDS} s of the period, ${fmt(samplesPerPeriod)} samples per period (fed in ${fmt(feedMs)} / ${fmt(feed2Ms)} ms; world built in ${fmt(setupMs)} ms, not timed).`);
  out('Real: BillingService, ReceiptLog (fdatasync on this disk), UptimeBook, createSigner (node:crypto ed25519). Fakes: the deployments Table (a Map), a ledger that answers "paid" at once, an event sink and agents that only count.');
  out('Timed: `closePeriod` = issue (up-time, charge, canonical JSON, prev hash, sign) + one fsynced append of the receipts + countersign requests + settle (a billing event and a payout per receipt through the fake ledger, their records appended and fsynced every 256, the grace scan).');
  out();
  out(`| close | receipts | signed + persisted: issue + append (ms) | aim ≤ 5 s | whole closePeriod incl. settle (ms) | receipts/s (whole) | whole, ratio to bare signing (${fmt(bareSignMs)} ms) | GC pauses (ms) | RSS before (MiB) | peak RSS in close (MiB) |`);
  out('|---|---:|---:|---|---:|---:|---:|---:|---:|---:|');
  const stored = (k: number): string => (k * DEPLOYMENTS).toLocaleString('en-US');
  for (const [name, c] of [['period 1 (first receipts: prev null, log empty)', c1], [`period 2 (chained; ${stored(1)} receipts stored)`, c2], [`period 3 (chained; ${stored(2)} receipts stored)`, c3]] as const) {
    const persisted = c.issueMs + c.appendReceiptsMs;
    out(`| ${name} | ${fmt(c.issued.length)} | ${fmt(persisted)} | ${persisted <= 5000 ? 'met' : 'missed'} | ${fmt(c.wallMs)} | ${fmt(c.issued.length / (c.wallMs / 1000))} | ${(c.wallMs / bareSignMs).toFixed(2)} | ${fmt(c.gcMs)} | ${mib(c.rssBeforeKib)} | ${mib(c.peakKib)} |`);
  }
  out();
  out(`Peak RSS: ${peak.scope}. Bare signing: ${n} node:crypto ed25519 signatures of the same receipt bytes in a loop, one core, this run.`);
  out();
  out(`### Where the period-2 close (${fmt(c2.wallMs)} ms) goes, measured in place`);
  out();
  out('| part | ms | share of close |');
  out('|---|---:|---:|');
  const part = (name: string, ms: number): boolean => out(`| ${name} | ${fmt(ms)} | ${((100 * ms) / c2.wallMs).toFixed(0)}% |`);
  part('issue (up-time, charge, canonical JSON, prev hash, sign)', c2.issueMs);
  part('  of which ed25519 signing', c2.signMs);
  part('append of the receipts (one batch: JSON, hash chain, write, one fdatasync, apply with its chain check)', c2.appendReceiptsMs);
  part(`settle (${n} billing events and payouts through the fake ledger, ${c2.settleAppends} fsynced batches, grace scan)`, c2.settleMs);
  part('rest (countersign requests, event, awaits)', c2.wallMs - c2.issueMs - c2.appendReceiptsMs - c2.settleMs);
  part('GC pauses (inside the parts above)', c2.gcMs);
  out();
  out(`### The same close as work per receipt, each re-measured over the same ${n} receipts: now, and as proposed`);
  out();
  const per = (ms: number): string => ((1000 * ms) / DEPLOYMENTS).toFixed(1);
  out('| work | now | now (ms) | proposed | proposed, main thread (ms) |');
  out('|---|---|---:|---|---:|');
  const work: Array<[string, string, number, string, number]> = [
    ['ed25519 sign (node:crypto)', `1 x ${per(bareSignMs)} µs`, bareSignMs, '1, on a worker thread', 0],
    ['canonical JSON of the receipt body', `4 x ${per(canonicalMs)} µs (signing bytes; prev in issue; chain check in apply; invoice in settle)`, 4 * canonicalMs, '2 (signing bytes; hash once in apply, kept in the entry)', 2 * canonicalMs],
    ['blake2b-256 of the body', `3 x ${per(noble256Ms)} µs (@noble/hashes)`, 3 * noble256Ms, `1 x ${per(sodium256Ms)} µs (libsodium crypto_generichash, same bytes out)`, sodium256Ms],
    ['log hash chain, blake2b-128 per line (receipt, paid, payout)', `@noble/hashes, ${per(chainNobleMs)} µs per receipt`, chainNobleMs, 'libsodium', chainSodiumMs],
    ['JSON.stringify of the three log lines', `${per(stringifyMs)} µs`, stringifyMs, 'same', stringifyMs],
    [`write + fdatasync of the receipt lines (${costs.lineMib.toFixed(0)} MiB)`, 'one batch', writeSyncMs, 'same', writeSyncMs],
    ['up-time (UptimeBook.upSeconds over the period\'s samples)', `${per(upMs)} µs`, upMs, 'same', upMs],
    ['receipt id (blake2b-96 of deployment and period, @noble/hashes)', `${per(receiptIdMs)} µs`, receiptIdMs, 'same (libsodium makes no 12-byte BLAKE2b)', receiptIdMs],
    ['charge arithmetic (parse, compute, format three amounts; bigint)', `${per(chargeMs)} µs`, chargeMs, 'same', chargeMs],
  ];
  for (const [name, now, nowMs, proposed, proposedMs] of work) out(`| ${name} | ${now} | ${fmt(nowMs)} | ${proposed} | ${fmt(proposedMs)} |`);
  const sumNow = work.reduce((sum, row) => sum + row[2], 0);
  const sumProposed = work.reduce((sum, row) => sum + row[4], 0);
  out(`| **sum of the listed work** | | **${fmt(sumNow)}** | | **${fmt(sumProposed)}** |`);
  out();
  out(`### Prototype: receipts signed and persisted for period 3 (same inputs; every 997th receipt checked byte-identical to BillingService.issue), median of ${ISSUE_ROUNDS} interleaved rounds`);
  out();
  const asIsIssue = median(protoTimes.get(variants[0]?.name as string)?.issue as number[]);
  const asIsTotal = asIsIssue + c3.appendReceiptsMs;
  out('| variant | issue (ms) | persist (ms) | signed + persisted (ms) | ratio to as is | aim ≤ 5 s |');
  out('|---|---:|---:|---:|---:|---|');
  for (const v of variants) {
    const times = protoTimes.get(v.name) as { issue: number[]; persist: number[] };
    const issue = median(times.issue);
    const persist = v.mode ? median(times.persist) : c3.appendReceiptsMs;
    out(`| ${v.name} | ${fmt(issue)} | ${fmt(persist)} | ${fmt(issue + persist)} | ${((issue + persist) / asIsTotal).toFixed(2)} | ${issue + persist <= 5000 ? 'met' : 'missed'} |`);
  }
  out();
  out('Persist = the same receipt lines (JSON, blake2b-128 chain, one write, one fdatasync) and an index update checking `prev` against the kept hash. Not included: settle (billing events and payouts), which talks to the ledger.');
  out();
  out(`### One receipt appended with ${n} receipts stored (${LOWDB_WRITES} interleaved rounds)`);
  out();
  const storeSize = statSync(join(dir, 'lowdb', 'db.json')).size;
  const [storeMed, storeP90] = stats(appendTimes.store);
  out('| variant | samples | median (ms) | p90 (ms) | ratio to LowdbStore |');
  out('|---|---:|---:|---:|---:|');
  for (const [name, times] of [
    [`LowdbStore.put (SecureJsonFile: whole ${(storeSize / 1048576).toFixed(0)} MiB file rewritten, fsynced, renamed)`, appendTimes.store],
    ['lowdb + its own JSONFile (whole file rewritten, no fsync)', appendTimes.jsonfile],
    [`ReceiptLog.append of one receipt (one line, fdatasync; log ${(statSync(join(dir, 'append-100k.log')).size / 1048576).toFixed(0)} MiB)`, appendTimes.log],
    ['floor: write the same line + fdatasync on a plain file', appendTimes.floor],
  ] as const) {
    const [m, p90] = stats(times);
    out(`| ${name} | ${times.length} | ${m.toFixed(3)} | ${p90.toFixed(3)} | ${(m / storeMed).toFixed(5)} |`);
  }
  const [logMed] = stats(appendTimes.log);
  const [floorMed] = stats(appendTimes.floor);
  out();
  out(`Append aim (< 1 ms): ${logMed < 1 ? 'met' : 'missed'}: median ${logMed.toFixed(3)} ms, ${fmt(storeMed / logMed)}x less than the LowdbStore rewrite (median ${fmt(storeMed)} ms, p90 ${fmt(storeP90)} ms); this disk's own write + fdatasync floor is ${floorMed.toFixed(3)} ms.`);
} finally {
  gcObserver.disconnect();
  for (const p of pools) await p.close();
  rmSync(dir, { recursive: true, force: true });
}
