// Up-time from sampled heartbeats: the rule both the gateway (billing) and the agent (countersigning) apply.

/** One observation of a node or VM at a time (ms). */
export interface Sample {
  readonly atMs: number;
  readonly up: boolean;
}

/** Heartbeats missed before a node and its VMs count as down (docs/architecture.md "Agents and up-time"). */
export const MISSED_HEARTBEATS_FOR_DOWN = 3;

/**
 * Milliseconds of up-time within [fromMs, toMs) from samples sorted by time.
 * Rule: an "up" sample at t counts from t until the next sample, if that next sample comes
 * within 3 heartbeat intervals (ordinary jitter and a single lost heartbeat are credited).
 * An "up" sample followed by silence — no next sample yet, or one only after the down
 * threshold — counts nothing: nobody knows when the VM stopped, and a customer never pays for
 * time that may have been down. A "down" sample counts nothing. Periods close a settle time
 * after they end, so the next sample of a healthy agent has always arrived by then.
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
    if (next === undefined) continue;
    const gap = next.atMs - s.atMs;
    if (gap > downAfterMs) continue;
    const credit = gap;
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
