// bench/receipt-log: what a long-running gateway pays for its receipt history at start — time to open receipts.log and heap per receipt — against only reading and JSON-parsing the same lines.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReceiptLog } from '../src/gateway/billing/receipt-log.js';
import { loadLibsodium } from '../src/identity/index.js';
import { median } from './measure.js';
import { writeReceiptHistory } from './receipt-history.js';

// The gateway's primitives (Gateway.start loads libsodium): opening the log hashes every line.
await loadLibsodium();

/** Receipts in the log (BENCH_RECEIPTS), as deployments x hourly periods. */
const RECEIPTS = Number(process.env.BENCH_RECEIPTS ?? 200_000);
const DEPLOYMENTS = 1_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const out = (line = ''): boolean => process.stdout.write(line + '\n');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:receipt-log does)');

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
  const history = ReceiptLog.open(path).receipts;
  await writeReceiptHistory(history, RECEIPTS, DEPLOYMENTS);
  history.close();
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
