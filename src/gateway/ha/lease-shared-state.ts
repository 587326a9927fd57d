// The memory the gateway's main thread and its lease worker share: the main thread's liveness stamp, and the token the worker holds and until when.
import type { Clock } from '../../protocol/clock.js';

/** Slots of the shared BigInt64Array. */
const STAMP = 0;
const TOKEN = 1;
const VALID_UNTIL = 2;
const SLOTS = 3;

/**
 * Milliseconds on the process's monotonic clock (`process.hrtime`): one clock for every thread of the
 * process (unlike `performance.now()`, whose origin is per thread) that wall-clock steps do not move.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/** The monotonic clock as a Clock, for the worker's keeper: its validity times are then comparable with the main thread's reads. */
export class MonotonicClock implements Clock {
  nowMs(): number {
    return monotonicMs();
  }

  toRealMs(durationMs: number): number {
    return durationMs;
  }
}

/**
 * A view of one SharedArrayBuffer, read and written with Atomics, so neither thread waits for the
 * other's event loop: the main thread stamps that it runs and reads what the worker holds; the
 * worker reads the stamp and publishes the token it holds. Times are `monotonicMs()`.
 */
export class LeaseSharedState {
  private readonly words: BigInt64Array;

  /** A new buffer, or the view of one the other thread made (passed in `workerData`). */
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(SLOTS * BigInt64Array.BYTES_PER_ELEMENT)) {
    if (buffer.byteLength !== SLOTS * BigInt64Array.BYTES_PER_ELEMENT) throw new RangeError(`LeaseSharedState: the buffer must be ${SLOTS * 8} bytes`);
    this.words = new BigInt64Array(buffer);
  }

  /** The main thread: "I ran at `nowMs`". */
  stamp(nowMs: number): void {
    Atomics.store(this.words, STAMP, BigInt(Math.floor(nowMs)));
  }

  /** How long ago the main thread last stamped. */
  silentMs(nowMs: number): number {
    return nowMs - Number(Atomics.load(this.words, STAMP));
  }

  /** The worker: it holds the lease under `token` until `validUntilMs`, or (token 0) holds nothing. */
  publish(token: number, validUntilMs: number): void {
    // A renewal only moves the time on (a write checking meanwhile is never refused). A new token goes
    // through 0 first: a reader that sees the new token then reads the new time, never an older one.
    if (Number(Atomics.load(this.words, TOKEN)) !== token) Atomics.store(this.words, TOKEN, 0n);
    Atomics.store(this.words, VALID_UNTIL, BigInt(Math.floor(validUntilMs)));
    Atomics.store(this.words, TOKEN, BigInt(token));
  }

  /** Whether the worker holds the lease under `token` at `nowMs`: the main thread's check before each write. */
  holds(token: number, nowMs: number): boolean {
    return token > 0 && Number(Atomics.load(this.words, TOKEN)) === token && nowMs < Number(Atomics.load(this.words, VALID_UNTIL));
  }
}
