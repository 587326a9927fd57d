// PeriodCloser with a FakeClock and fake work: periods close in order, once each, after end + settle; a failure stops the advance and is retried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { PeriodCloser, periodStartOf, type PeriodWork } from '../../src/gateway/billing/period-closer.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { FakeTable } from '../helpers/fake-table.js';

const HOUR = 3_600_000;
const SETTLE = 60_000;
const T0 = Date.UTC(2026, 0, 1); // on an hour boundary

/** A fake of PeriodWork, named as one: records each period it closes; fails the periods it is told to, a set number of times. */
class FakeWork implements PeriodWork {
  readonly closed: [number, number][] = [];
  readonly failures = new Map<number, number>();

  closePeriod(startMs: number, endMs: number): Promise<void> {
    this.closed.push([startMs, endMs]);
    const left = this.failures.get(startMs) ?? 0;
    if (left > 0) {
      this.failures.set(startMs, left - 1);
      return Promise.reject(new Error(`ledger unreachable for ${startMs}`));
    }
    return Promise.resolve();
  }
}

interface Rig {
  clock: FakeClock;
  meta: FakeTable<unknown>;
  work: FakeWork[];
  persisted: number[];
  persistFailures: number;
  events: FakeEventSink;
  closer: PeriodCloser;
}

function rig(options: { works?: number; startMs?: number; meta?: FakeTable<unknown> } = {}): Rig {
  const clock = new FakeClock(options.startMs ?? T0 + 10 * 60_000);
  const meta = options.meta ?? new FakeTable<unknown>();
  const work = Array.from({ length: options.works ?? 1 }, () => new FakeWork());
  const events = new FakeEventSink();
  const r = { clock, meta, work, persisted: [] as number[], persistFailures: 0, events } as Omit<Rig, 'closer'>;
  const closer = new PeriodCloser({
    clock,
    periodMs: HOUR,
    settleMs: SETTLE,
    startupWaitRealMs: 0,
    tickRealMs: 1000,
    meta,
    work,
    persistEvidence: (ms) => {
      if (r.persistFailures > 0) {
        r.persistFailures--;
        return Promise.reject(new Error('disk full'));
      }
      r.persisted.push(ms);
      return Promise.resolve();
    },
    events,
    log: pino({ enabled: false }),
  });
  return Object.assign(r, { closer });
}

const starts = (w: FakeWork): number[] => w.closed.map(([s]) => (s - T0) / HOUR);

test('periodStartOf aligns on multiples of the period', async (t) => {
  const table: { ms: number; periodMs: number; expected: number }[] = [
    { ms: 0, periodMs: HOUR, expected: 0 },
    { ms: HOUR - 1, periodMs: HOUR, expected: 0 },
    { ms: HOUR, periodMs: HOUR, expected: HOUR },
    { ms: T0 + 1234, periodMs: HOUR, expected: T0 },
    { ms: T0 + HOUR + 59 * 60_000, periodMs: HOUR, expected: T0 + HOUR },
    { ms: T0 + 16 * 60_000, periodMs: 15 * 60_000, expected: T0 + 15 * 60_000 },
    { ms: 2500, periodMs: 1000, expected: 2000 },
  ];
  for (const c of table) await t.test(`${c.ms} / ${c.periodMs}`, () => assert.equal(periodStartOf(c.ms, c.periodMs), c.expected));
});

test('a new closer starts at the period that holds now; a stored position is kept', () => {
  const fresh = rig();
  assert.equal(fresh.closer.closedThroughMs(), T0);
  const meta = new FakeTable<unknown>();
  meta.rows.set('closedThroughMs', T0 - 5 * HOUR);
  const restarted = rig({ meta });
  assert.equal(restarted.closer.closedThroughMs(), T0 - 5 * HOUR);
});

test('a period closes only after its end plus the settle time, and only once', async () => {
  const r = rig();
  await r.closer.runDue();
  assert.deepEqual(r.work[0]?.closed, []);
  r.clock.set(T0 + HOUR);
  await r.closer.runDue();
  assert.deepEqual(r.work[0]?.closed, [], 'at the end, late heartbeats may still come');
  r.clock.set(T0 + HOUR + SETTLE - 1);
  await r.closer.runDue();
  assert.deepEqual(r.work[0]?.closed, []);
  r.clock.set(T0 + HOUR + SETTLE);
  await r.closer.runDue();
  assert.deepEqual(r.work[0]?.closed, [[T0, T0 + HOUR]]);
  assert.deepEqual(r.persisted, [T0 + HOUR]);
  assert.equal(r.closer.closedThroughMs(), T0 + HOUR);
  await r.closer.runDue();
  await r.closer.runDue();
  assert.equal(r.work[0]?.closed.length, 1, 'running again closes nothing again');
  assert.deepEqual(r.closer.lastRun(), { atMs: T0 + HOUR + SETTLE, error: null });
});

test('after a long pause every due period closes, in order, each once', async () => {
  const r = rig({ works: 2 });
  r.clock.set(T0 + 4 * HOUR + SETTLE);
  await r.closer.runDue();
  for (const w of r.work) assert.deepEqual(starts(w), [0, 1, 2, 3]);
  assert.deepEqual(r.persisted, [1, 2, 3, 4].map((h) => T0 + h * HOUR));
  assert.equal(r.closer.closedThroughMs(), T0 + 4 * HOUR);
  r.clock.advance(HOUR - 1);
  await r.closer.runDue();
  assert.deepEqual(starts(r.work[0] as FakeWork), [0, 1, 2, 3]);
});

test('concurrent runs do not close a period twice', async () => {
  const r = rig();
  r.clock.set(T0 + 3 * HOUR + SETTLE);
  await Promise.all([r.closer.runDue(), r.closer.runDue(), r.closer.runDue()]);
  assert.deepEqual(starts(r.work[0] as FakeWork), [0, 1, 2]);
});

test('a failing work item stops the advance; the same period is retried next time', async () => {
  const r = rig({ works: 2 });
  (r.work[1] as FakeWork).failures.set(T0 + HOUR, 1); // the second period fails once, in the second work item
  r.clock.set(T0 + 3 * HOUR + SETTLE);
  await r.closer.runDue();
  assert.equal(r.closer.closedThroughMs(), T0 + HOUR, 'the failed period is not marked closed');
  assert.deepEqual(starts(r.work[0] as FakeWork), [0, 1], 'later periods were not attempted');
  assert.deepEqual(starts(r.work[1] as FakeWork), [0, 1]);
  assert.deepEqual(r.persisted, [T0 + HOUR], 'evidence of the failed period is not acknowledged');
  assert.match(r.closer.lastRun().error ?? '', /ledger unreachable/);
  assert.deepEqual(r.events.names(), ['billing.error']);
  assert.match(r.events.events[0]?.detail ?? '', /^closing the period starting 2026-01-01T01:00:00\.000Z failed: .*; it will be retried$/);

  await r.closer.runDue();
  assert.deepEqual(starts(r.work[0] as FakeWork), [0, 1, 1, 2], 'period 1 again (every step is idempotent), then period 2');
  assert.deepEqual(starts(r.work[1] as FakeWork), [0, 1, 1, 2]);
  assert.equal(r.closer.closedThroughMs(), T0 + 3 * HOUR);
  assert.equal(r.closer.lastRun().error, null);
});

test('a failure to persist the evidence also keeps the period open', async () => {
  const r = rig();
  r.persistFailures = 1;
  r.clock.set(T0 + HOUR + SETTLE);
  await r.closer.runDue();
  assert.equal(r.closer.closedThroughMs(), T0);
  assert.match(r.closer.lastRun().error ?? '', /disk full/);
  await r.closer.runDue();
  assert.equal(r.closer.closedThroughMs(), T0 + HOUR);
  assert.deepEqual(starts(r.work[0] as FakeWork), [0, 0]);
});

test('after close() nothing more is closed', async () => {
  const r = rig();
  await r.closer.close();
  r.clock.set(T0 + 2 * HOUR + SETTLE);
  await r.closer.runDue();
  assert.deepEqual(r.work[0]?.closed, []);
});
