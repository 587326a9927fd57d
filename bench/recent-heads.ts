// bench/recent-heads: CPU per RecentHeads.put (the check and decode of each heartbeat's head), with the heads in cache or not; --module compares another build's recent-heads.js.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { RecentHeads } from '../src/gateway/agents/recent-heads.js';
import { RECENT_HEADS } from '../src/gateway/agents/heartbeat-chain.js';

const { values: options } = parseArgs({ options: { module: { type: 'string' }, runs: { type: 'string' } } });
const RUNS = Number(options.runs ?? 7);
const PUTS = 5_000_000;

/** What the bench needs of a RecentHeads build. */
type Ring = new (bound: number) => { put(seq: number, headHex: string): void };
const other = options.module === undefined ? undefined : ((await import(pathToFileURL(options.module).href)) as { RecentHeads: Ring }).RecentHeads;

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** CPU ns per put of PUTS heads drawn in turn from `heads` (64: in cache; 100,000: mostly not), at the gateway's bound. */
function nsPerPut(ring: Ring, heads: readonly string[]): number {
  const r = new ring(RECENT_HEADS);
  const start = cpuMs();
  let seq = 0;
  while (seq < PUTS) for (const h of heads) r.put(++seq, h);
  return ((cpuMs() - start) * 1e6) / seq;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
for (const count of [64, 100_000]) {
  // Fresh strings, as chainNext makes a new head for each heartbeat.
  const heads = Array.from({ length: count }, () => randomBytes(32).toString('hex'));
  const mine: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    mine.push(nsPerPut(RecentHeads, heads));
    if (other) theirs.push(nsPerPut(other, heads));
  }
  const line: Record<string, unknown> = { heads: count, putNs: +median(mine).toFixed(1) };
  if (other) Object.assign(line, { otherPutNs: +median(theirs).toFixed(1), ratio: +median(mine.map((m, i) => m / (theirs[i] as number))).toFixed(2) });
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
