// The wait before a new lease worker, on a fake clock: one ttl after the first death, doubling while workers keep dying young, never past the bound, and back to one ttl after a worker that lived.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RESPAWN_MAX_MS, RespawnBackoff, respawnDelayMs } from '../../../src/gateway/ha/respawn-backoff.js';
import { FakeClock } from '../../helpers/fake-clock.js';

/** ha.takeoverSeconds 3: the lease-worker test's ttl. */
const TTL = 2000;

test('respawnDelayMs: table of waits', () => {
  const cases: { diedInARow: number; ttlMs: number; waitMs: number }[] = [
    { diedInARow: 1, ttlMs: TTL, waitMs: TTL },
    { diedInARow: 2, ttlMs: TTL, waitMs: 2 * TTL },
    { diedInARow: 3, ttlMs: TTL, waitMs: 4 * TTL },
    { diedInARow: 5, ttlMs: TTL, waitMs: 16 * TTL },
    { diedInARow: 6, ttlMs: TTL, waitMs: RESPAWN_MAX_MS },
    { diedInARow: 1000, ttlMs: TTL, waitMs: RESPAWN_MAX_MS },
    { diedInARow: Number.MAX_SAFE_INTEGER, ttlMs: TTL, waitMs: RESPAWN_MAX_MS },
    // The default takeover (10 s): ttl 6,666 ms.
    { diedInARow: 4, ttlMs: 6666, waitMs: 53_328 },
    { diedInARow: 5, ttlMs: 6666, waitMs: RESPAWN_MAX_MS },
    // A ttl past the bound: the first wait is still one ttl, and it never grows.
    { diedInARow: 1, ttlMs: 90_000, waitMs: 90_000 },
    { diedInARow: 7, ttlMs: 90_000, waitMs: 90_000 },
  ];
  for (const c of cases) assert.equal(respawnDelayMs(c.diedInARow, c.ttlMs), c.waitMs, JSON.stringify(c));
});

test('respawnDelayMs: no death count below one, nor a fraction, nor a ttl of zero', () => {
  for (const n of [0, -1, 1.5, Number.NaN]) assert.throws(() => respawnDelayMs(n, TTL), RangeError, String(n));
  for (const ttl of [0, -1, Number.NaN]) assert.throws(() => respawnDelayMs(1, ttl), RangeError, String(ttl));
  assert.throws(() => new RespawnBackoff(new FakeClock(), 0), RangeError);
});

test('RespawnBackoff: workers dying young wait 1, 2, 4 … ttls up to the bound; one that ran for the bound resets the wait to one ttl', () => {
  const clock = new FakeClock();
  const backoff = new RespawnBackoff(clock, TTL);
  /** A worker started, ran `livedMs`, and died: the wait before the next one. */
  const life = (livedMs: number): number => {
    backoff.started();
    clock.advance(livedMs);
    return backoff.died();
  };
  assert.deepEqual(
    Array.from({ length: 8 }, () => life(500)),
    [TTL, 2 * TTL, 4 * TTL, 8 * TTL, 16 * TTL, RESPAWN_MAX_MS, RESPAWN_MAX_MS, RESPAWN_MAX_MS],
  );
  assert.equal(life(RESPAWN_MAX_MS), TTL, 'a worker that ran a minute was not in a crash loop');
  assert.equal(life(RESPAWN_MAX_MS - 1), 2 * TTL, 'one that ran just under it was');
  assert.equal(life(10 * RESPAWN_MAX_MS), TTL);
  assert.equal(backoff.died(), 2 * TTL, 'a death with no start since counts as young');
});
