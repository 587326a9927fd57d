// Up-time from sampled heartbeats: the rule both the gateway (billing) and the agent (countersigning) apply.

/** One observation of a node or VM at a time (ms). */
export interface Sample {
  readonly atMs: number;
  readonly up: boolean;
}

/** Heartbeats missed before a node and its VMs count as down (DESIGN.md section 4). */
export const MISSED_HEARTBEATS_FOR_DOWN = 3;

/**
 * Milliseconds of up-time within [fromMs, toMs) from samples sorted by time.
 * Rule: an "up" sample at t counts from t until the next sample, if that comes within
 * 3 heartbeat intervals; if the next sample is later than that (missed heartbeats) or there
 * is none yet, it counts for one interval only. A "down" sample counts nothing. So a customer
 * never pays for a silence longer than the down threshold, and a farmer is credited for
 * ordinary heartbeat jitter.
 */
export function upMillis(samples: readonly Sample[], fromMs: number, toMs: number, intervalMs: number): number {
  if (!(intervalMs > 0)) throw new RangeError('intervalMs must be positive');
  if (toMs <= fromMs) return 0;
  const downAfterMs = MISSED_HEARTBEATS_FOR_DOWN * intervalMs;
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as Sample;
    if (!s.up) continue;
    const next = samples[i + 1];
    const gap = next === undefined ? intervalMs : next.atMs - s.atMs;
    const credit = gap <= downAfterMs ? gap : intervalMs;
    const start = Math.max(s.atMs, fromMs);
    const end = Math.min(s.atMs + credit, toMs);
    if (end > start) total += end - start;
  }
  return total;
}

/** Whole seconds of up-time (rounded down: a partial second is not billed). */
export function upSeconds(samples: readonly Sample[], fromMs: number, toMs: number, intervalMs: number): number {
  return Math.floor(upMillis(samples, fromMs, toMs, intervalMs) / 1000);
}

/** True when the last sample is "up" and no more than 3 intervals old at `nowMs`. */
export function isUpNow(samples: readonly Sample[], nowMs: number, intervalMs: number): boolean {
  const last = samples[samples.length - 1];
  return last !== undefined && last.up && nowMs - last.atMs <= MISSED_HEARTBEATS_FOR_DOWN * intervalMs;
}
