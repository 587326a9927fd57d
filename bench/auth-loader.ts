// bench/auth-loader: bench/auth's load generator for its pinned rounds — one long-lived autocannon (in the caller's namespace, on its own core) that runs one round per line of stdin, so no round pays for starting a process.
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

/** What a round asks for (one JSON line on stdin). */
interface RoundRequest {
  readonly url: string;
  readonly seconds: number;
  readonly connections: number;
}

/** The part of autocannon's result (autocannon 9, lib/run.js) this loader reads. */
interface CannonResult {
  readonly requests: { readonly total: number };
  readonly duration: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
}

type Cannon = (options: { url: string; duration: number; connections: number }) => Promise<CannonResult>;

// autocannon ships no types; its default export returns a promise of the result when given no callback.
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const round = JSON.parse(line) as RoundRequest;
  const cpuBefore = process.cpuUsage();
  const r = await autocannon({ url: round.url, duration: round.seconds, connections: round.connections });
  const cpu = process.cpuUsage(cpuBefore);
  // One line back per round: bench/auth reads the server's CPU before writing the request and after reading this.
  process.stdout.write(`${JSON.stringify({ total: r.requests.total, seconds: r.duration, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, loaderCpuMicros: cpu.user + cpu.system })}\n`);
}
