// bench/soak's one-line summary: what a reader (or bench/README.md) quotes from a run, made from the run's numbers, with no verdict in it.
import { percentile } from './measure.js';
import type { AttackSummary } from './soak-attacker.js';

/** The numbers of one soak run that the summary line reports. */
export interface SoakNumbers {
  /** Latencies (ms) of every successful legit request, per phase. */
  readonly quietMs: readonly number[];
  readonly attackMs: readonly number[];
  /** Seconds each phase took (legit requests/s). */
  readonly quietSeconds: number;
  readonly attackSeconds: number;
  /** Legit requests answered otherwise than expected (or not at all), and how many of them were 429s. */
  readonly legitFailed: number;
  readonly legitRateLimited: number;
  /** Customers whose order became active, of all customers. */
  readonly active: number;
  readonly customers: number;
  /** Agents whose last heartbeat the gateway lacks or did not acknowledge, and agents disconnected (connections lost, or not connected at the end). */
  readonly notIngested: number;
  readonly unacked: number;
  readonly lost: number;
  readonly attack: AttackSummary;
  /** Gateway log lines saying a join request was refused (a warning each), during the run. */
  readonly refusedJoinWarnings: number;
}

const n0 = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const n1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');

/** How many of the attacker's requests were answered 429 (HTTP status, or an agent upgrade refused with 429). */
export function rateLimitedOf(attack: AttackSummary): { requests: number; rateLimited: number } {
  let requests = 0;
  let rateLimited = 0;
  for (const outcomes of Object.values(attack.outcomes)) {
    for (const [outcome, count] of Object.entries(outcomes)) {
      requests += count;
      if (outcome === '429' || outcome === 'http 429') rateLimited += count;
    }
  }
  return { requests, rateLimited };
}

/** One line, `bench/soak summary: …`, stating the run's numbers side by side (quiet against flooded, same run). */
export function summaryLine(s: SoakNumbers): string {
  const p99q = percentile(s.quietMs, 99);
  const p99a = percentile(s.attackMs, 99);
  const { requests, rateLimited } = rateLimitedOf(s.attack);
  const perSecond = requests / s.attack.seconds;
  const joinsPerMinute = s.refusedJoinWarnings / (s.attack.seconds / 60);
  return [
    `bench/soak summary: legit p99 ${n0(p99q)} ms quiet, ${n0(p99a)} ms under the flood (${p99q > 0 ? (p99a / p99q).toFixed(2) : 'n/a'}x)`,
    `p50 ${n1(percentile(s.quietMs, 50))} -> ${n1(percentile(s.attackMs, 50))} ms`,
    `legit requests/s ${n0(s.quietMs.length / s.quietSeconds)} -> ${n0(s.attackMs.length / s.attackSeconds)}`,
    `flood ${n0(requests)} requests (${n0(perSecond)}/s), ${n0(rateLimited)} answered 429 (${requests > 0 ? Math.round((100 * rateLimited) / requests) : 0}%, ${n0(rateLimited / s.attack.seconds)}/s)`,
    `legit failed ${s.legitFailed} (429: ${s.legitRateLimited}), orders active ${s.active}/${s.customers}, heartbeats not ingested ${s.notIngested}, unacknowledged ${s.unacked}, agents disconnected ${s.lost}`,
    `refused agent-join warnings ${s.refusedJoinWarnings} (${n1(joinsPerMinute)}/min of flood)`,
  ].join('; ');
}
