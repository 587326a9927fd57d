// One VM's up/down samples as the agent keeps them for countersigning: packed in typed arrays (9 bytes a sample), oldest dropped from the front.
import type { Sample } from '../protocol/uptime.js';

/** Room for this many samples at first; doubled as needed. */
const FIRST_CAPACITY = 64;

/**
 * The samples of one VM, oldest first. The agent keeps eight periods of them per VM (1,920 at the
 * production 15 s interval): as `{ atMs, up }` objects in an array that was ~60 bytes a sample on
 * the JS heap (an object, a boxed time, a slot), marked by every major GC; here a Float64Array of
 * times and a Uint8Array of states, ~9 bytes a sample off the JS heap's object graph.
 */
export class SampleLog {
  private atMs = new Float64Array(FIRST_CAPACITY);
  private up = new Uint8Array(FIRST_CAPACITY);
  /** Index of the oldest sample kept. */
  private start = 0;
  /** One past the newest sample. */
  private end = 0;

  /** Samples kept. */
  get size(): number {
    return this.end - this.start;
  }

  /** The oldest sample's time, if any. */
  get firstAtMs(): number | undefined {
    return this.size > 0 ? this.atMs[this.start] : undefined;
  }

  /** The newest sample's time, if any. */
  get lastAtMs(): number | undefined {
    return this.size > 0 ? this.atMs[this.end - 1] : undefined;
  }

  /** Appends a sample (times come in order: one per heartbeat). */
  push(atMs: number, up: boolean): void {
    if (this.end === this.atMs.length) this.makeRoom();
    this.atMs[this.end] = atMs;
    this.up[this.end] = up ? 1 : 0;
    this.end++;
  }

  /**
   * Drops old samples while the one after them is still before `keepFromMs`: the last sample
   * before it stays, since it may be up and credit time up to the next one.
   */
  dropBefore(keepFromMs: number): void {
    while (this.size > 1 && (this.atMs[this.start + 1] as number) < keepFromMs) this.start++;
  }

  /**
   * The samples that decide up-time within [fromMs, toMs) (protocol/uptime.ts upMillis): from the
   * last one at or before `fromMs` (it credits time into the window) to the first one at or after
   * `toMs` (it ends the credit of the one before); upMillis over them equals upMillis over all.
   */
  window(fromMs: number, toMs: number): Sample[] {
    let first = this.lastAtOrBefore(fromMs);
    if (first < this.start) first = this.start;
    const out: Sample[] = [];
    for (let i = first; i < this.end; i++) {
      const atMs = this.atMs[i] as number;
      out.push({ atMs, up: this.up[i] === 1 });
      if (atMs >= toMs) break;
    }
    return out;
  }

  /** Index of the last sample with a time at or before `ms` (start − 1 when none), by binary search. */
  private lastAtOrBefore(ms: number): number {
    let lo = this.start;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.atMs[mid] as number) <= ms) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** Moves the kept samples to the front, and doubles the arrays when they are more than half full. */
  private makeRoom(): void {
    const size = this.size;
    const capacity = size * 2 > this.atMs.length ? this.atMs.length * 2 : this.atMs.length;
    const atMs = capacity === this.atMs.length ? this.atMs : new Float64Array(capacity);
    const up = capacity === this.up.length ? this.up : new Uint8Array(capacity);
    atMs.set(this.atMs.subarray(this.start, this.end));
    up.set(this.up.subarray(this.start, this.end));
    this.atMs = atMs;
    this.up = up;
    this.start = 0;
    this.end = size;
  }
}
