// The Clock port, shared by gateway and agent: wall time in production, and the lab's scaled time where an hour lasts seconds.

/** Time as the business logic sees it. Durations passed to timers are in the same (possibly scaled) milliseconds. */
export interface Clock {
  /** Milliseconds since the epoch, on this clock. */
  nowMs(): number;
  /** Real milliseconds a timer must wait for `durationMs` on this clock to pass. */
  toRealMs(durationMs: number): number;
}

/** Wall time. */
export class SystemClock implements Clock {
  nowMs(): number {
    return Date.now();
  }

  toRealMs(durationMs: number): number {
    return durationMs;
  }
}

/** Milliseconds in an hour. */
export const HOUR_MS = 3_600_000;

/**
 * The lab's clock: one billed hour lasts `hourSeconds` real seconds. Time starts at `epochMs`
 * (real) and runs 3600/hourSeconds times faster after it, so every process of one lab that is
 * given the same epoch and scale reads the same time.
 */
export class ScaledClock implements Clock {
  readonly speed: number;

  constructor(readonly epochMs: number, readonly hourSeconds: number) {
    if (!(hourSeconds > 0)) throw new RangeError('hourSeconds must be positive');
    this.speed = 3600 / hourSeconds;
  }

  nowMs(): number {
    return Math.floor(this.epochMs + (Date.now() - this.epochMs) * this.speed);
  }

  toRealMs(durationMs: number): number {
    return durationMs / this.speed;
  }
}

/** Sleeps `durationMs` of `clock` time (real time scaled down in the lab). */
export function sleepOn(clock: Clock, durationMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, clock.toRealMs(durationMs)));
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** Which clock a time in an answer was read from: "lab" (scaled: one hour lasts seconds) or "wall" (real time). */
export type ClockName = 'lab' | 'wall';

/** The name of `clock` for answers: "lab" for the lab's ScaledClock, "wall" for everything else. */
export function clockName(clock: Clock): ClockName {
  return clock instanceof ScaledClock ? 'lab' : 'wall';
}
