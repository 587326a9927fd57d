// isoTime: the agent's log time written without Date.prototype.toISOString (which loads ICU's zone data) gives the same strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isoTime } from '../../src/agent/iso-time.js';

/** 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the years toISOString writes with four digits. */
const FIRST_MS = new Date('0000-01-01T00:00:00.000Z').getTime();
const LAST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

test('isoTime writes the same string as toISOString for any millisecond in years 0000-9999', () => {
  fc.assert(fc.property(fc.integer({ min: FIRST_MS, max: LAST_MS }), (ms) => {
    assert.equal(isoTime(ms), new Date(ms).toISOString());
  }), { numRuns: 20_000 });
});

test('isoTime agrees at the edges: the epoch, leap days, century years, the ends of the four-digit range', () => {
  const edges = [
    0, -1, 1, FIRST_MS, LAST_MS, Date.UTC(1969, 11, 31, 23, 59, 59, 999), Date.UTC(2000, 1, 29, 12), Date.UTC(1900, 1, 28, 23, 59, 59, 999),
    Date.UTC(1900, 2, 1), Date.UTC(2100, 1, 28), Date.UTC(2100, 2, 1), Date.UTC(2400, 1, 29), Date.UTC(2026, 10, 28, 19, 40, 1, 7), Date.UTC(1600, 1, 29),
  ];
  for (const ms of edges) assert.equal(isoTime(ms), new Date(ms).toISOString(), `at ${ms}`);
});

test('outside the four-digit years, and for an invalid time, isoTime answers as toISOString does', () => {
  assert.equal(isoTime(LAST_MS + 1), '+010000-01-01T00:00:00.000Z');
  assert.equal(isoTime(FIRST_MS - 1), '-000001-12-31T23:59:59.999Z');
  assert.throws(() => isoTime(Number.NaN), RangeError);
});
