// How long the gateway waits to start a new lease worker after one died unasked: one ttl at first, twice as long for each worker in a row that died young, never past a bound.
import type { Clock } from '../../protocol/clock.js';

/**
 * The longest wait before a new worker, unless the ttl itself is longer: a worker that keeps dying
 * (a crash loop) is retried once a minute, not every ttl, and one whose fault has gone (a database
 * back, memory freed) is running again within a minute.
 */
export const RESPAWN_MAX_MS = 60_000;

/** The bound on the wait for a lease of `ttlMs`: RESPAWN_MAX_MS, or the ttl when that is longer (the first wait is always one ttl). */
export function respawnBoundMs(ttlMs: number): number {
  return Math.max(ttlMs, RESPAWN_MAX_MS);
}

/**
 * The wait before the next worker starts after `diedInARow` workers died young in a row (1 for
 * the first): one ttl, so the lease the dead worker held has lapsed and no one could still take it
 * for this gateway; then twice the last wait each time, up to respawnBoundMs.
 */
export function respawnDelayMs(diedInARow: number, ttlMs: number): number {
  if (!Number.isSafeInteger(diedInARow) || diedInARow < 1) throw new RangeError(`respawnDelayMs: diedInARow must be a positive integer, got ${diedInARow}`);
  if (!(ttlMs > 0)) throw new RangeError('respawnDelayMs: ttlMs must be positive');
  // Past 2^30 ttls every wait is the bound anyway; the cap keeps the power finite.
  return Math.min(respawnBoundMs(ttlMs), ttlMs * 2 ** Math.min(diedInARow - 1, 30));
}

/**
 * Counts lease workers that died young in a row, on a clock: a worker that ran for the bound or
 * longer before it died was not in a crash loop, so the wait after it starts again from one ttl.
 * Bounded: two numbers, whatever the number of deaths.
 */
export class RespawnBackoff {
  private diedInARow = 0;
  private startedAtMs: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {
    if (!(ttlMs > 0)) throw new RangeError('RespawnBackoff: ttlMs must be positive');
  }

  /** A worker was started now. */
  started(): void {
    this.startedAtMs = this.clock.nowMs();
  }

  /** The worker started last died unasked now: how long to wait before starting the next. */
  died(): number {
    const livedMs = this.startedAtMs === undefined ? 0 : this.clock.nowMs() - this.startedAtMs;
    this.startedAtMs = undefined;
    this.diedInARow = livedMs >= respawnBoundMs(this.ttlMs) ? 1 : this.diedInARow + 1;
    return respawnDelayMs(this.diedInARow, this.ttlMs);
  }
}
