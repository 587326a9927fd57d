// Reachability probes shared by agents and the gateway: a TCP connect to a Mycelium address, with its round-trip time.
import { connect } from 'node:net';

/** What one probe found. */
export interface ProbeResult {
  readonly reachable: boolean;
  /** Connect time in microseconds, when reachable. */
  readonly rttMicros?: number;
}

/** Connects to [address]:port and closes at once; unreachable on refusal, error or timeout. */
export function probeTcp(address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const socket = connect({ host: address, port, family: 6 });
    let done = false;
    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ reachable: false }), timeoutMs);
    socket.once('connect', () => finish({ reachable: true, rttMicros: Number((process.hrtime.bigint() - started) / 1000n) }));
    socket.once('error', () => finish({ reachable: false }));
  });
}

/** Runs `tasks` with at most `limit` at a time. */
export async function withLimit<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await (tasks[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
