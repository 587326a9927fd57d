// bench/receipt-log: what a long-running gateway pays for its receipt history at start — time to open receipts.log and heap per receipt — against only reading and JSON-parsing the same lines.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReceiptLog, type MoneyRecord } from '../src/gateway/billing/receipt-log.js';
import { receiptBodyFor } from '../src/gateway/billing/billing-service.js';
import type { DeploymentRecord } from '../src/gateway/store/records.js';
import { MerkleTree } from '../src/protocol/merkle.js';
import { receiptLeafHash, receiptSigningBytes } from '../src/protocol/receipt.js';
import { signTreeHead, TREE_HEAD_PURPOSE, treeHeadHash } from '../src/protocol/tree-head.js';
import { blake2b, loadLibsodium, randomBytes, toBase64, toHex } from '../src/identity/index.js';
import { median } from './measure.js';

// The gateway's primitives (Gateway.start loads libsodium): opening the log hashes every line.
await loadLibsodium();

/** Receipts in the log (BENCH_RECEIPTS), as deployments x hourly periods. */
const RECEIPTS = Number(process.env.BENCH_RECEIPTS ?? 200_000);
const DEPLOYMENTS = 1_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const HOUR = 3_600_000;

const out = (line = ''): boolean => process.stdout.write(line + '\n');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:receipt-log does)');

/** Writes RECEIPTS paid, paid-out v2 receipts, the way BillingService leaves them (one tree head per period). */
async function writeLog(path: string): Promise<void> {
  const { receipts } = ReceiptLog.open(path);
  const prev = new Map<string, string>();
  const gateway = `uhCAk${'g'.repeat(48)}`;
  let prevHead: string | null = null;
  for (let p = 0; p < RECEIPTS / DEPLOYMENTS; p++) {
    const issued: MoneyRecord[] = [{ t: 'close_begin', periodStartMs: p * HOUR }];
    const leaves: Uint8Array[] = [];
    const settled: MoneyRecord[] = [];
    for (let i = 0; i < DEPLOYMENTS; i++) {
      const d: DeploymentRecord = {
        id: `dep_${i.toString(16).padStart(16, '0')}`, order: `ord_${i}`, customer: `uhCAk${String(i % 200).padStart(48, 'c')}`, offer: 'small', name: `vm-${i}`,
        pricePerHour: '0.050000', unit: 'SPORE', sshKeys: [], provisioner: 'agent', node: `node-${i % 50}`, farmer: `uhCAk${String(i % 20).padStart(48, 'f')}`,
        myceliumIp: '4a1::ff0f:1', vmRef: {}, state: 'active', createdAtMs: 0, activatedAtMs: 0,
      };
      const startMs = p * HOUR;
      const agentHead = { periodStartMs: startMs, periodEndMs: startMs + HOUR, seq: 240 * (p + 1), head: toHex(randomBytes(32)), signature: toBase64(randomBytes(64)) };
      const body = receiptBodyFor(d, startMs, startMs + HOUR, { upSeconds: () => 3600, prev: prev.get(d.id) ?? null, agentHead, gateway, issuedAt: new Date(startMs + HOUR).toISOString(), farmerShareBps: 9000 });
      if (!body) throw new Error('bench: the deployment was not billable');
      const hash = toHex(blake2b(receiptSigningBytes(body), 32));
      prev.set(d.id, hash);
      leaves.push(receiptLeafHash(hash));
      issued.push({ t: 'receipt', receipt: body, periodStartMs: startMs, key: `hypha:${d.id}:${new Date(startMs).toISOString()}`, hash, index: i });
      settled.push({ t: 'paid', id: body.id, entryId: `ev-${p}-${i}`, atMs: startMs + HOUR });
      settled.push({ t: 'payout', id: body.id, farmer: d.farmer, amountMicros: '45000', entryId: `po-${p}-${i}`, atMs: startMs + HOUR });
    }
    const startMs = p * HOUR;
    const head = signTreeHead(
      { v: 1, purpose: TREE_HEAD_PURPOSE, gateway, periodStart: new Date(startMs).toISOString(), periodEnd: new Date(startMs + HOUR).toISOString(), size: DEPLOYMENTS, root: toHex(MerkleTree.fromLeafHashes(leaves).root()), issuedAt: new Date(startMs + HOUR).toISOString(), prev: prevHead },
      () => randomBytes(64),
    );
    prevHead = treeHeadHash(head);
    issued.push({ t: 'tree_head', periodStartMs: startMs, head });
    await receipts.append(issued);
    await receipts.append(settled);
  }
  receipts.close();
}

/** Time (ms) and retained heap (bytes) of building something from the log. */
function measure<T>(build: () => T): { ms: number; heapBytes: number } {
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const start = process.hrtime.bigint();
  const kept = build();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  gc?.();
  const heapBytes = process.memoryUsage().heapUsed - before;
  if (kept === undefined) throw new Error('bench: nothing was built');
  return { ms, heapBytes };
}

const dir = mkdtempSync(join(tmpdir(), 'hypha-bench-receipt-log-'));
try {
  const path = join(dir, 'receipts.log');
  await writeLog(path);
  const lines = RECEIPTS * 3;
  const variants: Record<string, () => unknown> = {
    'floor: read the file and JSON.parse every line': () => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown),
    'ReceiptLog.open (hash chain checked, indexes built)': () => ReceiptLog.open(path).receipts,
  };
  const samples = new Map<string, { ms: number[]; heap: number[] }>(Object.keys(variants).map((k) => [k, { ms: [], heap: [] }]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, build] of Object.entries(variants)) {
      const m = measure(build);
      samples.get(name)?.ms.push(m.ms);
      samples.get(name)?.heap.push(m.heapBytes);
    }
  }
  const floor = samples.get('floor: read the file and JSON.parse every line');
  const floorMs = median(floor?.ms ?? []);
  out(`## receipts.log: ${RECEIPTS.toLocaleString('en-US')} receipts (${lines.toLocaleString('en-US')} lines, ${(statSync(path).size / 1048576).toFixed(0)} MiB), median of ${ROUNDS} interleaved rounds\n`);
  out('| variant | open (ms) | µs per receipt | heap kept (MiB) | heap per receipt (bytes) | time ratio to floor |');
  out('|---|---:|---:|---:|---:|---:|');
  for (const [name, s] of samples) {
    const ms = median(s.ms);
    const heap = median(s.heap);
    out(`| ${name} | ${ms.toFixed(0)} | ${((ms * 1000) / RECEIPTS).toFixed(1)} | ${(heap / 1048576).toFixed(0)} | ${(heap / RECEIPTS).toFixed(0)} | ${(ms / floorMs).toFixed(2)} |`);
  }
} finally {
  if (process.env.BENCH_KEEP) out(`kept ${dir}`); else rmSync(dir, { recursive: true, force: true });
}
