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

test('record out of order keeps samples in time order', () => {
  const ordered = [at(0), at(10), at(15), at(30), at(45, false), at(50), at(60)];
  // Every insertion position: at the front, in the middle, an equal time, at the end.
  const shuffled = [at(30), at(60), at(0), at(45, false), at(15), at(50), at(10)];
  const book = new UptimeBook(INTERVAL);
  for (const s of shuffled) book.record('vm:d1', s);
  assert.equal(book.upMillis('vm:d1', T0, T0 + HOUR), upMillis(ordered, T0, T0 + HOUR, INTERVAL));
  assert.equal(book.upMillis('vm:d1', T0, T0 + HOUR), 55 * S, '[0,45) and [50,60)');
  assert.deepEqual(book.last('vm:d1'), at(60));
  assert.deepEqual(book.carryOver(T0 + 12 * S)['vm:d1'], at(10), 'the last sample before 12 s is the one at 10 s');
  assert.deepEqual(book.carryOver(T0 + 48 * S)['vm:d1'], at(45, false));
});

test('subjects are kept apart', () => {
  const book = new UptimeBook(INTERVAL);
  for (const s of beats(0, 60)) book.record('node:n1', s);
  book.record('vm:d1', at(0));
  assert.equal(book.upSeconds('node:n1', T0, T0 + HOUR), 60);
  assert.equal(book.upSeconds('vm:d1', T0, T0 + HOUR), 0);
  assert.equal(book.upSeconds('vm:unknown', T0, T0 + HOUR), 0);
  assert.deepEqual(book.subjects().sort(), ['node:n1', 'vm:d1']);
});

test('prune forgets closed samples but keeps the carry-over one, so the next period is credited the same', () => {
  const book = new UptimeBook(INTERVAL);
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
  const book = new UptimeBook(INTERVAL);
  book.record('vm:gone', at(0, false));
  book.record('vm:recent', at(3590, false));
  book.record('node:n1', at(0));
  book.prune(T0 + HOUR);
  assert.deepEqual(book.subjects().sort(), ['node:n1', 'vm:recent']);
});

test('carryOver then restore into a new book (a restart) gives the same up-seconds', () => {
  const before = new UptimeBook(INTERVAL);
  const samples = [...beats(0, 3590, 10), ...beats(3605, 7220)];
  const node = [...beats(0, 3585), at(3595), ...beats(3610, 7220)];
  for (const s of samples) before.record('vm:d1', s);
  for (const s of node) before.record('node:n1', s);
  const carry = before.carryOver(T0 + HOUR);
  assert.deepEqual(carry, { 'vm:d1': at(3590), 'node:n1': at(3595) });

  const after = new UptimeBook(INTERVAL);
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
  const book = new UptimeBook(INTERVAL);
  book.record('node:n1', at(0));
  assert.equal(book.isUp('node:n1', T0 + 45 * S), true);
  assert.equal(book.isUp('node:n1', T0 + 45 * S + 1), false);
  book.record('node:n1', at(15, false));
  assert.equal(book.isUp('node:n1', T0 + 16 * S), false);
  assert.equal(book.isUp('node:none', T0), false);
});
