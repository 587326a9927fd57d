// PeriodStarts: runs of evenly spaced period starts answer `has` exactly as scanning the plain list from its newest did, in a handful of numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PeriodStarts } from '../../src/gateway/billing/period-starts.js';
import { testSeed } from '../helpers/seeded-random.js';

/** ReceiptLog.has before runs (receipt-log.ts at 1af38d8): scan from the newest, stop at the first older start. */
function listHas(starts: readonly number[], ms: number): boolean {
  for (let i = starts.length - 1; i >= 0; i--) {
    const s = starts[i] as number;
    if (s === ms) return true;
    if (s < ms) return false;
  }
  return false;
}

test('PeriodStarts answers has() as the list scan did, for any sequence of starts (gaps, repeats, out of order), and survives toRuns/fromRuns', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 60 }), fc.array(fc.integer({ min: -2, max: 62 }), { minLength: 1, maxLength: 20 }), (steps, asks) => {
      // Mostly hourly starts (step 1), with gaps and the odd step back.
      const starts: number[] = [];
      let at = 0;
      for (const s of steps) starts.push((at += s % 7 === 0 ? -1 : s % 5 === 0 ? s : 1));
      const runs = PeriodStarts.empty();
      for (const s of starts) runs.push(s);
      const again = PeriodStarts.fromRuns(runs.toRuns());
      assert.equal(runs.length, starts.length);
      for (const ms of [...asks, ...starts]) {
        assert.equal(runs.has(ms), listHas(starts, ms), `has(${ms}) over ${JSON.stringify(starts)}`);
        assert.equal(again.has(ms), listHas(starts, ms));
      }
    }),
    { seed: testSeed(), numRuns: 300 },
  );
});

test('a deployment billed every hour for a year is one run; a malformed run list is refused', () => {
  const hour = 3_600_000;
  const starts = PeriodStarts.empty();
  for (let i = 0; i < 8760; i++) starts.push(i * hour);
  assert.deepEqual(starts.toRuns(), [0, hour, 8760]);
  assert.equal(starts.has(4321 * hour), true);
  assert.equal(starts.has(4321 * hour + 1), false);
  assert.throws(() => PeriodStarts.fromRuns([0, hour]), RangeError);
  assert.throws(() => PeriodStarts.fromRuns([0, -1, 2]), RangeError);
  assert.throws(() => PeriodStarts.fromRuns([0, hour, 0]), RangeError);
});
