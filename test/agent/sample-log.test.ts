// SampleLog keeps the same record as the array of { atMs, up } it replaced: the same samples after drops, and the same up-time over any window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SampleLog } from '../../src/agent/sample-log.js';
import { upSeconds, type Sample } from '../../src/protocol/uptime.js';

const INTERVAL_MS = 15_000;

/** The agent's record as it was kept before (src/agent/agent.ts before SampleLog): an array, old samples shifted off the front. */
class ArrayRecord {
  readonly list: Sample[] = [];
  push(atMs: number, up: boolean): void {
    this.list.push({ atMs, up });
  }
  dropBefore(keepFromMs: number): void {
    while (this.list.length > 1 && (this.list[1] as Sample).atMs < keepFromMs) this.list.shift();
  }
}

/** Steps of a VM's life: a heartbeat some time after the last (jitter, a gap, an outage), up or down, and now and then a prune. */
const steps = fc.array(fc.record({ gapMs: fc.oneof(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 20_000, max: 400_000 })), up: fc.boolean(), keepBackMs: fc.option(fc.integer({ min: 0, max: 3_000_000 })) }), { minLength: 0, maxLength: 600 });

test('after any pushes and drops SampleLog gives the same up-time as the array over any window, and the same first and last times', () => {
  fc.assert(fc.property(steps, fc.integer({ min: -100_000, max: 8_000_000 }), fc.integer({ min: 0, max: 4_000_000 }), (history, fromOffset, length) => {
    const log = new SampleLog();
    const record = new ArrayRecord();
    let at = 1_764_000_000_000;
    for (const step of history) {
      at += step.gapMs;
      log.push(at, step.up);
      record.push(at, step.up);
      if (step.keepBackMs !== null) {
        log.dropBefore(at - step.keepBackMs);
        record.dropBefore(at - step.keepBackMs);
      }
    }
    assert.equal(log.size, record.list.length);
    assert.equal(log.firstAtMs, record.list[0]?.atMs);
    assert.equal(log.lastAtMs, record.list[record.list.length - 1]?.atMs);
    const fromMs = 1_764_000_000_000 + fromOffset;
    const toMs = fromMs + length;
    assert.equal(upSeconds(log.window(fromMs, toMs), fromMs, toMs, INTERVAL_MS), upSeconds(record.list, fromMs, toMs, INTERVAL_MS));
  }), { numRuns: 500 });
});

test('a window holds only the samples that decide it: the last at or before its start, those inside, the first at or after its end', () => {
  const log = new SampleLog();
  for (let i = 0; i < 10; i++) log.push(i * 1000, i % 2 === 0);
  assert.deepEqual(log.window(2500, 5000).map((s) => s.atMs), [2000, 3000, 4000, 5000]);
  assert.deepEqual(log.window(3000, 3001).map((s) => s.atMs), [3000, 4000]);
  assert.deepEqual(log.window(-5000, 500).map((s) => s.atMs), [0, 1000]);
  assert.deepEqual(log.window(20_000, 30_000).map((s) => s.atMs), [9000]);
  assert.deepEqual(new SampleLog().window(0, 1), []);
});

test('it grows past its first capacity and keeps every sample in order', () => {
  const log = new SampleLog();
  for (let i = 0; i < 5000; i++) log.push(i, i % 3 === 0);
  log.dropBefore(4000);
  assert.equal(log.size, 1001);
  assert.equal(log.firstAtMs, 3999);
  for (let i = 5000; i < 9000; i++) log.push(i, true);
  assert.deepEqual(log.window(3998.5, 4001).map((s) => [s.atMs, s.up]), [[3999, true], [4000, false], [4001, false]]);
  assert.equal(log.lastAtMs, 8999);
});
