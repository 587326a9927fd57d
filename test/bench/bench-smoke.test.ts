// The lab-free benches run end to end at a tiny size, so a refactor that breaks what a bench wraps or reads fails here, not at the next measuring round.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, scratchDir } from '../helpers/paths.js';
import { runCommand, type RunResult } from '../helpers/run.js';

const BENCH = join(REPO_ROOT, 'dist', 'bench');

/** Runs one compiled bench with node (and --expose-gc, which the close and log benches need) and the given knobs. */
function bench(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runCommand(process.execPath, ['--expose-gc', join(BENCH, file), ...args], { env: { ...process.env, ...env }, timeoutMs: 120_000 });
}

function succeeded(r: RunResult, name: string): void {
  assert.equal(r.code, 0, `${name} exited ${r.code}: ${r.stderr.slice(-2000)}`);
}

test('bench/billing closes two periods of 300 deployments and times each part', async () => {
  const r = await bench('billing.js', [], { BENCH_DEPLOYMENTS: '300', BENCH_CLOSES: '2', BENCH_VERIFY_ROUNDS: '20', BENCH_APPENDS: '5' });
  succeeded(r, 'bench/billing');
  // Each close's row: its label, then the receipts it issued (the bench's issue wrapper saw them all).
  const rows = r.stdout.split('\n').filter((line) => /^\| period \d/.test(line));
  assert.equal(rows.length, 2, r.stdout);
  for (const row of rows) assert.equal(row.split('|')[2]?.trim(), '300', row);
  assert.match(r.stdout, /^Money-log checkpoints that could not be encoded or written during the run: 0\.$/m);
  assert.match(r.stdout, /\| v2: tree-head signature \+ inclusion proof \(\d+ hashes\)/);
  assert.match(r.stdout, /^GC pauses by kind in each close, .*: [\d,]+ \(\d+\) \/ [\d,]+ \(\d+\) \/ [\d,]+ \/ [\d,]+; [\d,]+ \(\d+\) \/ [\d,]+ \(\d+\) \/ [\d,]+ \/ [\d,]+\. V8 flags: --expose-gc\.$/m);
});

test('bench/billing with BENCH_HEAP_PROFILE_DIR writes an allocation profile of each close', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const r = await bench('billing.js', [], { BENCH_DEPLOYMENTS: '300', BENCH_CLOSES: '2', BENCH_VERIFY_ROUNDS: '20', BENCH_APPENDS: '5', BENCH_HEAP_PROFILE_DIR: dir });
  succeeded(r, 'bench/billing');
  for (const k of [1, 2]) {
    const profile = JSON.parse(readFileSync(join(dir, `close-${k}.heapprofile`), 'utf8')) as { head: { callFrame: { functionName: string }; children: unknown[] }; samples: unknown[] };
    assert.equal(profile.head.callFrame.functionName, '(root)');
    assert.ok(profile.samples.length > 0, `close ${k}: no allocation sampled`);
  }
});

test('bench/receipt-log opens a log of 2,000 receipts against the read-and-parse floor', async () => {
  const r = await bench('receipt-log.js', [], { BENCH_RECEIPTS: '2000', BENCH_ROUNDS: '1' });
  succeeded(r, 'bench/receipt-log');
  assert.match(r.stdout, /^## receipts\.log: 2,000 receipts/m);
  assert.match(r.stdout, /^\| ReceiptLog\.open .*\| \d+\.\d+ \|$/m);
});

test('bench/heartbeat-ingest feeds 25 heartbeats through the hub and reports the cost of each', async () => {
  const r = await bench('heartbeat-ingest.js', ['--agents', '5', '--beats', '5']);
  succeeded(r, 'bench/heartbeat-ingest');
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"mode"'));
  assert.ok(line, r.stdout);
  const result = JSON.parse(line) as { beats: number; nsPerBeat: number };
  assert.equal(result.beats, 25);
  assert.ok(result.nsPerBeat > 0, line);
});
