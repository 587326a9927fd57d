// PeriodCloser with a FakeClock and fake work: periods close in order, once each, after end + settle; a failure stops the advance and is retried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { PeriodCloser, periodStartOf, type EvidenceSource, type PeriodWork } from '../../src/gateway/billing/period-closer.js';
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

/**
 * A fake of the closer's EvidenceSource, named as one (the real one is AgentHub.evidenceComplete,
 * src/gateway/agents/agent-hub.ts): the newest heartbeat time it has "received", and every question asked.
 */
class FakeEvidence implements EvidenceSource {
  newestHeartbeatMs = 0;
  readonly asked: Array<{ endMs: number; startingUp: boolean }> = [];

  evidenceComplete(endMs: number, startingUp: boolean): boolean {
    this.asked.push({ endMs, startingUp });
    return this.newestHeartbeatMs >= endMs;
  }
}

const MAX_WAIT = 10 * 60_000;

interface Rig {
  clock: FakeClock;
  meta: FakeTable<unknown>;
  work: FakeWork[];
  persisted: number[];
  persistFailures: number;
  events: FakeEventSink;
  closer: PeriodCloser;
}

function rig(options: { works?: number; startMs?: number; meta?: FakeTable<unknown>; evidence?: FakeEvidence; startupWaitRealMs?: number } = {}): Rig {
  const clock = new FakeClock(options.startMs ?? T0 + 10 * 60_000);
  const meta = options.meta ?? new FakeTable<unknown>();
  const work = Array.from({ length: options.works ?? 1 }, () => new FakeWork());
  const events = new FakeEventSink();
  const r = { clock, meta, work, persisted: [] as number[], persistFailures: 0, events } as Omit<Rig, 'closer'>;
  const closer = new PeriodCloser({
    clock,
    periodMs: HOUR,
    settleMs: SETTLE,
    startupWaitRealMs: options.startupWaitRealMs ?? 0,
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
    ...(options.evidence ? { evidence: { source: options.evidence, maxWaitMs: MAX_WAIT } } : {}),
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

test('a due period waits for a connected agent\'s late heartbeat (the one after its end credits its last interval)', async () => {
  const evidence = new FakeEvidence();
  const r = rig({ evidence });
  evidence.newestHeartbeatMs = T0 + HOUR - 1000; // stamped before the end; the next one is still on its way
  r.clock.set(T0 + HOUR + SETTLE);
  await r.closer.runDue();
  assert.deepEqual(r.work[0]?.closed, [], 'not closed without the heartbeat after the end');
  assert.deepEqual(evidence.asked, [{ endMs: T0 + HOUR, startingUp: false }]);
  r.clock.set(T0 + HOUR + SETTLE + MAX_WAIT - 1);
  await r.closer.runDue();
  assert.deepEqual(r.work[0]?.closed, []);
  evidence.newestHeartbeatMs = T0 + HOUR + 5000; // it arrived, late
  await r.closer.runDue();
  assert.deepEqual(r.work[0]?.closed, [[T0, T0 + HOUR]]);
});

test('the wait for late heartbeats is bounded: an agent that never catches up does not stop billing', async () => {
  const evidence = new FakeEvidence();
  const r = rig({ evidence });
  r.clock.set(T0 + HOUR + SETTLE + MAX_WAIT);
  await r.closer.runDue();
  assert.deepEqual(r.work[0]?.closed, [[T0, T0 + HOUR]]);
});

test('after a start, the closer waits for the agents to come back and replay, then closes without waiting out the startup wait', async () => {
  const evidence = new FakeEvidence();
  const r = rig({ evidence, startupWaitRealMs: 3_600_000 });
  r.clock.set(T0 + 3 * HOUR); // the gateway was down for hours: periods 0 and 1 are long due
  r.closer.start();
  try {
    await r.closer.runDue();
    assert.deepEqual(r.work[0]?.closed, [], 'the agents have not replayed yet');
    assert.deepEqual(evidence.asked.at(-1), { endMs: T0 + HOUR, startingUp: true }, 'absent agents are waited for while starting up');
    evidence.newestHeartbeatMs = T0 + HOUR + 1; // replayed through period 0 only
    await r.closer.runDue();
    assert.deepEqual(starts(r.work[0]), [0]);
    evidence.newestHeartbeatMs = T0 + 3 * HOUR;
    await r.closer.runDue();
    assert.deepEqual(starts(r.work[0]), [0, 1]);
  } finally {
    await r.closer.close();
  }
});

test('without an evidence source, the whole startup wait is waited out', async () => {
  const r = rig({ startupWaitRealMs: 3_600_000 });
  r.clock.set(T0 + 3 * HOUR);
  r.closer.start();
  try {
    await r.closer.runDue();
    assert.deepEqual(r.work[0]?.closed, []);
  } finally {
    await r.closer.close();
  }
});

test('a fenced store (every write refused, the timeline too): the pass resolves, and the next pass still runs once writes work', async () => {
  const r = rig();
  (r.work[0] as FakeWork).failures.set(T0 + HOUR, 1);
  let refuse = true;
  const record = r.events.record.bind(r.events);
  r.events.record = (e) => (refuse ? Promise.reject(new Error('write refused: lease token 3 is no longer current')) : record(e));
  r.clock.set(T0 + 2 * HOUR + SETTLE);
  // Before, the timeline's refusal was thrown from the pass: unawaited in tick(), it ended the process.
  await r.closer.runDue();
  assert.equal(r.closer.closedThroughMs(), T0 + HOUR);
  refuse = false;
  await r.closer.runDue();
  assert.equal(r.closer.closedThroughMs(), T0 + 2 * HOUR, 'a later pass ran and closed the period');
});
