// A farmer's record on this gateway, shown next to its bids: delivered up-time of its nodes over the recorded periods of the last 30 days, and disputes.
import type { NodePeriodUptime } from '../uptime/node-uptime.js';
import type { FarmerRecord } from './bid-ranking.js';

/** How far back the record looks. */
export const RECORD_WINDOW_MS = 30 * 86_400_000;

/**
 * Up-seconds over period-seconds of the farmer's nodes, for periods starting within the window,
 * in basis points rounded down; `disputeTimesMs` are the times of confirmed probe disagreements.
 */
export function farmerRecordOf(nodes: readonly string[], history: Readonly<Record<string, readonly NodePeriodUptime[]>>, disputeTimesMs: readonly number[], nowMs: number): FarmerRecord {
  const fromMs = nowMs - RECORD_WINDOW_MS;
  let up = 0;
  let total = 0;
  let periods = 0;
  for (const node of nodes) {
    for (const p of history[node] ?? []) {
      if (p.periodStartMs < fromMs) continue;
      up += p.upSeconds;
      total += p.periodSeconds;
      periods++;
    }
  }
  return { upBps: total > 0 ? Math.floor((up * 10_000) / total) : null, periods, disputes: disputeTimesMs.filter((t) => t >= fromMs).length };
}
