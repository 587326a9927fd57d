// bench/requests-load: bench/requests' client, run in a customer's namespace — a fixed number of keep-alive connections cycling through a mix of customer requests, with each request's latency by kind.
import { Agent, request } from 'node:http';

/** One kind of request in the mix. */
export interface MixEntry {
  readonly kind: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** A JSON body (POST). */
  readonly body?: unknown;
}

/** What bench/requests asks for (argv[2], JSON). */
export interface LoadPlan {
  /** The gateway's URL, `http://[addr]:port`. */
  readonly base: string;
  readonly connections: number;
  readonly seconds: number;
  /** Cycled through by every connection, each starting at its own offset. */
  readonly mix: readonly MixEntry[];
  /** Sent one after another after the concurrent load, each timed on its own (writes such as placing an order). */
  readonly sequential: readonly MixEntry[];
}

/** Latencies of one kind of request (ms), and answers that were not 2xx. */
export interface KindResult {
  readonly latenciesMs: number[];
  failures: number;
  /** The first failure's status and body, to say why. */
  firstFailure?: string;
}

/** What the driver prints (stdout, JSON). */
export interface LoadOutcome {
  readonly kinds: Record<string, KindResult>;
  readonly sequential: Record<string, KindResult>;
  /** Requests of the concurrent phase per second. */
  readonly requestsPerSecond: number;
}

/** Sends one request on `agent`; resolves with its status and body once the answer is read whole. */
function send(agent: Agent, base: string, entry: MixEntry): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = entry.body === undefined ? undefined : JSON.stringify(entry.body);
    const req = request(`${base}${entry.path}`, { method: entry.method, agent, headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Times one request into `into`. */
async function timed(agent: Agent, base: string, entry: MixEntry, into: Record<string, KindResult>): Promise<void> {
  const result = (into[entry.kind] ??= { latenciesMs: [], failures: 0 });
  const start = process.hrtime.bigint();
  const { status, body } = await send(agent, base, entry);
  result.latenciesMs.push(Number(process.hrtime.bigint() - start) / 1e6);
  if (status < 200 || status > 299) {
    result.failures++;
    result.firstFailure ??= `${status} ${body.slice(0, 300)}`;
  }
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? '') as LoadPlan;
  const agent = new Agent({ keepAlive: true, maxSockets: plan.connections });
  const kinds: Record<string, KindResult> = {};
  const deadline = Date.now() + plan.seconds * 1000;
  let sent = 0;
  const started = process.hrtime.bigint();
  const worker = async (offset: number): Promise<void> => {
    for (let i = offset; Date.now() < deadline; i++) {
      await timed(agent, plan.base, plan.mix[i % plan.mix.length] as MixEntry, kinds);
      sent++;
    }
  };
  await Promise.all(Array.from({ length: plan.connections }, (_, c) => worker(c)));
  const elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const sequential: Record<string, KindResult> = {};
  for (const entry of plan.sequential) await timed(agent, plan.base, entry, sequential);
  agent.destroy();
  const outcome: LoadOutcome = { kinds, sequential, requestsPerSecond: sent / elapsedSeconds };
  process.stdout.write(JSON.stringify(outcome));
}

await main();
