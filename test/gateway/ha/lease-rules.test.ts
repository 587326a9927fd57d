// The lease rules on a fake clock: acquire when free or expired, renew, wait, the token rises on every takeover only, and a silent main thread stands down past the stall bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideLease, decideLiveness, leaseRoundMs, leaseTtlMs, type LeaseRow } from '../../../src/gateway/ha/lease-rules.js';

const A = { holder: 'a#1', url: 'http://[400::a]:8080' };
const B = { holder: 'b#1', url: 'http://[400::b]:8080' };
const TTL = 10_000;

test('decideLease: table of rounds', () => {
  const heldByA: LeaseRow = { ...A, token: 4, expiresAtMs: 1_000 };
  const cases: { name: string; current: LeaseRow | undefined; me: typeof A; nowMs: number; kind: string; token: number; holder: string; expiresAtMs: number }[] = [
    { name: 'no row: acquired with token 1', current: undefined, me: A, nowMs: 0, kind: 'acquired', token: 1, holder: A.holder, expiresAtMs: TTL },
    { name: 'holder renews before expiry: same token', current: heldByA, me: A, nowMs: 999, kind: 'renewed', token: 4, holder: A.holder, expiresAtMs: 999 + TTL },
    { name: 'another waits while it is live', current: heldByA, me: B, nowMs: 999, kind: 'waited', token: 4, holder: A.holder, expiresAtMs: 1_000 },
    { name: 'expiry is exclusive: at expiresAt it is free', current: heldByA, me: B, nowMs: 1_000, kind: 'acquired', token: 5, holder: B.holder, expiresAtMs: 1_000 + TTL },
    { name: 'the old holder after expiry comes back under a new token', current: heldByA, me: A, nowMs: 5_000, kind: 'acquired', token: 5, holder: A.holder, expiresAtMs: 5_000 + TTL },
  ];
  for (const c of cases) {
    const out = decideLease(c.current, c.me, c.nowMs, TTL);
    assert.equal(out.kind, c.kind, c.name);
    assert.equal(out.row.token, c.token, c.name);
    assert.equal(out.row.holder, c.holder, c.name);
    assert.equal(out.row.expiresAtMs, c.expiresAtMs, c.name);
  }
});

test('decideLease: a zero or negative ttl is refused', () => {
  assert.throws(() => decideLease(undefined, A, 0, 0), RangeError);
  assert.throws(() => decideLease(undefined, A, 0, -1), RangeError);
});

test('takeover bound: a dead holder is replaced within ttl + one round, inside the configured seconds', () => {
  for (const takeoverSeconds of [3, 15, 60]) {
    const ttl = leaseTtlMs(takeoverSeconds * 1000);
    assert.ok(ttl + leaseRoundMs(ttl) < takeoverSeconds * 1000, `${takeoverSeconds} s`);
  }
});

test('decideLiveness: the worker renews through stalls longer than the ttl, and stands down once the main thread has been silent for the stall bound', () => {
  const STALL = 60_000;
  const cases: { name: string; silentMs: number; verdict: string }[] = [
    { name: 'just stamped', silentMs: 0, verdict: 'renew' },
    { name: 'a stamp the main thread wrote after the worker read the time', silentMs: -5, verdict: 'renew' },
    { name: 'an ordinary gap between stamps', silentMs: 250, verdict: 'renew' },
    { name: 'a stall longer than the ttl (which cost the lease when the rounds ran on the main thread)', silentMs: TTL + 1, verdict: 'renew' },
    { name: 'three ttls of stall (a state reload on a loaded host)', silentMs: 3 * TTL, verdict: 'renew' },
    { name: 'just under the bound', silentMs: STALL - 1, verdict: 'renew' },
    { name: 'at the bound: hung, not busy', silentMs: STALL, verdict: 'stand-down' },
    { name: 'long past it', silentMs: 10 * STALL, verdict: 'stand-down' },
  ];
  for (const c of cases) assert.equal(decideLiveness(c.silentMs, TTL, STALL), c.verdict, c.name);
});

test('decideLiveness: a stall bound not above the ttl, or a ttl not above zero, is refused', () => {
  assert.throws(() => decideLiveness(0, TTL, TTL), RangeError);
  assert.throws(() => decideLiveness(0, TTL, TTL - 1), RangeError);
  assert.throws(() => decideLiveness(0, 0, 1_000), RangeError);
});
