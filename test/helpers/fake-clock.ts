// FakeClock: a Clock for unit tests of pure logic; time moves only when the test says so.
import type { Clock } from '../../src/protocol/clock.js';

/** A fake of the Clock port, named as one. */
export class FakeClock implements Clock {
  constructor(private ms = Date.UTC(2026, 0, 1)) {}
  nowMs(): number {
    return this.ms;
  }
  toRealMs(durationMs: number): number {
    return durationMs;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
}
