// UptimeBook: samples kept in time order, pruning that keeps the carry-over sample, and carry-over across a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UptimeBook } from '../../src/gateway/uptime/uptime-book.js';
import { upMillis, type Sample } from '../../src/protocol/uptime.js';

const T0 = Date.UTC(2026, 0, 1);
const S = 1000;
const HOUR = 3600 * S;
const INTERVAL = 15 * S;
const at = (seconds: number, up = true): Sample => ({ atMs: T0 + seconds * S, up });
const beats = (from: number, to: number, step = 15): Sample[] => {
  const out: Sample[] = [];
  for (let s = from; s <= to; s += step) out.push(at(s));
  return out;
};

test('in-order samples are credited as the shared rule says; an older sample is ignored and counted', () => {
  const ordered = [at(0), at(10), at(15), at(30), at(45, false), at(50), at(60)];
  const book = new UptimeBook(INTERVAL, HOUR);
  for (const s of ordered) book.record('vm:d1', s);
  assert.equal(book.upMillis('vm:d1', T0, T0 + HOUR), upMillis(ordered, T0, T0 + HOUR, INTERVAL));
  assert.equal(book.upMillis('vm:d1', T0, T0 + HOUR), 55 * S, '[0,45) and [50,60)');
  assert.equal(book.upMillis('vm:d1', T0 + 12 * S, T0 + 47 * S), 33 * S, 'clipped to the window');
  book.record('vm:d1', at(20));
  assert.equal(book.outOfOrder, 1);
  assert.equal(book.upMillis('vm:d1', T0, T0 + HOUR), 55 * S, 'the late sample changed nothing');
  assert.deepEqual(book.last('vm:d1'), at(60));
});

test('the carry-over is the last sample of the latest period that ended, even after many later samples', () => {
  const book = new UptimeBook(INTERVAL, HOUR);
  for (const s of beats(0, 3 * 3600, 5)) book.record('vm:d1', s);
  assert.deepEqual(book.carryOver(T0 + HOUR)['vm:d1'], at(3595));
  assert.deepEqual(book.carryOver(T0 + 2 * HOUR)['vm:d1'], at(7195));
  book.prune(T0 + 2 * HOUR);
  assert.deepEqual(book.carryOver(T0 + 2 * HOUR)['vm:d1'], at(7195), 'kept by the prune');
  assert.equal(book.upSeconds('vm:d1', T0 + 2 * HOUR, T0 + 3 * HOUR), 3600);
});

test('subjects are kept apart', () => {
  const book = new UptimeBook(INTERVAL, HOUR);
  for (const s of beats(0, 60)) book.record('node:n1', s);
  book.record('vm:d1', at(0));
  assert.equal(book.upSeconds('node:n1', T0, T0 + HOUR), 60);
  assert.equal(book.upSeconds('vm:d1', T0, T0 + HOUR), 0);
  assert.equal(book.upSeconds('vm:unknown', T0, T0 + HOUR), 0);
  assert.deepEqual(book.subjects().sort(), ['node:n1', 'vm:d1']);
});

test('prune forgets closed samples but keeps the carry-over one, so the next period is credited the same', () => {
  const book = new UptimeBook(INTERVAL, HOUR);
  const samples = [...beats(0, 3590, 10), ...beats(3605, 7220)];
  for (const s of samples) book.record('vm:d1', s);
  const nextBefore = book.upMillis('vm:d1', T0 + HOUR, T0 + 2 * HOUR);
  assert.equal(nextBefore, HOUR, 'the sample at 3590 s credits [3600, 3605)');
  book.prune(T0 + HOUR);
  assert.equal(book.upMillis('vm:d1', T0 + HOUR, T0 + 2 * HOUR), nextBefore);
  assert.deepEqual(book.carryOver(T0 + HOUR)['vm:d1'], at(3590), 'the carry-over sample is still there');
  assert.equal(book.upMillis('vm:d1', T0, T0 + 3580 * S), 0, 'earlier samples are gone');
});

test('prune forgets a subject whose only sample is down and old, and keeps a recent one', () => {
  const book = new UptimeBook(INTERVAL, HOUR);
  book.record('vm:gone', at(0, false));
  book.record('vm:recent', at(3590, false));
  book.record('node:n1', at(0));
  book.prune(T0 + HOUR);
  assert.deepEqual(book.subjects().sort(), ['node:n1', 'vm:recent']);
});

test('carryOver then restore into a new book (a restart) gives the same up-seconds', () => {
  const before = new UptimeBook(INTERVAL, HOUR);
  const samples = [...beats(0, 3590, 10), ...beats(3605, 7220)];
  const node = [...beats(0, 3585), at(3595), ...beats(3610, 7220)];
  for (const s of samples) before.record('vm:d1', s);
  for (const s of node) before.record('node:n1', s);
  const carry = before.carryOver(T0 + HOUR);
  assert.deepEqual(carry, { 'vm:d1': at(3590), 'node:n1': at(3595) });

  const after = new UptimeBook(INTERVAL, HOUR);
  after.restore(JSON.parse(JSON.stringify(carry)) as Record<string, Sample>);
  // The agent replays the heartbeats of the open period after the restart.
  for (const s of samples.filter((x) => x.atMs >= T0 + HOUR)) after.record('vm:d1', s);
  for (const s of node.filter((x) => x.atMs >= T0 + HOUR)) after.record('node:n1', s);
  for (const subject of ['vm:d1', 'node:n1'] as const) {
    assert.equal(after.upSeconds(subject, T0 + HOUR, T0 + 2 * HOUR), before.upSeconds(subject, T0 + HOUR, T0 + 2 * HOUR), subject);
  }
  assert.equal(after.upSeconds('vm:d1', T0 + HOUR, T0 + 2 * HOUR), 3600);
});

test('isUp follows the last sample and the 3-interval rule', () => {
  const book = new UptimeBook(INTERVAL, HOUR);
  book.record('node:n1', at(0));
  assert.equal(book.isUp('node:n1', T0 + 45 * S), true);
  assert.equal(book.isUp('node:n1', T0 + 45 * S + 1), false);
  book.record('node:n1', at(15, false));
  assert.equal(book.isUp('node:n1', T0 + 16 * S), false);
  assert.equal(book.isUp('node:none', T0), false);
});
