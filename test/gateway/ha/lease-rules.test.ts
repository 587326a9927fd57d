// The lease rules on a fake clock: acquire when free or expired, renew, wait, and the token rises on every takeover only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideLease, leaseRoundMs, leaseTtlMs, type LeaseRow } from '../../../src/gateway/ha/lease-rules.js';

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
