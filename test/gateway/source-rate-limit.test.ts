// Per-/64 request buckets: a flooding /64 gets 429 rate_limited with Retry-After and the limit's name (after a short hold), while other /64s, linked callers' own bucket and admins go on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Context } from 'koa';
import { RateLimiter } from '../../src/gateway/limits/rate-limiter.js';
import { MAX_HOLD_SECONDS, sourceRateLimit } from '../../src/gateway/http/source-rate-limit.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import type { Principal, Role } from '../../src/gateway/http/principal.js';

/** A clock that only moves when told to. */
function fakeClock(): { nowMs: () => number; advance(ms: number): void } {
  let now = 1_000_000;
  return { nowMs: () => now, advance: (ms) => void (now += ms) };
}

/** The parts of a Koa context the middleware touches. */
function contextOf(subnet: string, options: { linked?: boolean; roles?: Role[] } = {}): { ctx: Context; headers: Map<string, string> } {
  const headers = new Map<string, string>();
  const principal: Principal = {
    address: subnet.replace('::/64', '::1'),
    subnet,
    ...(options.linked ? { link: { subnet, agent: 'uhCAkx', address: subnet.replace('::/64', '::1'), linkedAtMs: 0, statement: '', signature: '' } as unknown as NonNullable<Principal['link']>, agent: 'uhCAkx' } : {}),
    roles: options.roles ?? (options.linked ? ['customer'] : []),
  };
  const ctx = { state: { principal }, set: (k: string, v: string) => void headers.set(k, v) } as unknown as Context;
  return { ctx, headers };
}

/** Runs the middleware once: 'next' when it let the request through, else the PublicError it threw. */
async function pass(middleware: ReturnType<typeof sourceRateLimit>, ctx: Context): Promise<'next' | PublicError> {
  let reached = false;
  try {
    await middleware(ctx, () => {
      reached = true;
      return Promise.resolve();
    });
  } catch (err) {
    if (err instanceof PublicError) return err;
    throw err;
  }
  assert.equal(reached, true);
  return 'next';
}

function limits(clock: { nowMs: () => number }) {
  return {
    unlinked: new RateLimiter(60, 5, clock.nowMs),
    unlinkedPerMinute: 60,
    linked: new RateLimiter(600, 50, clock.nowMs),
    linkedPerMinute: 600,
  };
}

test('an unlinked /64 gets its burst, then 429 rate_limited naming the limit, with Retry-After; another /64 is not affected', async () => {
  const clock = fakeClock();
  const mw = sourceRateLimit(limits(clock));
  const flooder = contextOf('5a1:1:2:3::/64');
  for (let i = 0; i < 5; i++) assert.equal(await pass(mw, flooder.ctx), 'next', `request ${i + 1} of the burst`);
  const refused = await pass(mw, flooder.ctx);
  assert.ok(refused instanceof PublicError);
  assert.equal(refused.code, 'rate_limited');
  assert.equal(refused.status, 429);
  assert.equal(refused.extra.limit, 'http.unlinkedRequestsPerMinute');
  assert.equal(refused.extra.retryAfterSeconds, 1);
  assert.equal(flooder.headers.get('retry-after'), '1');
  assert.match(refused.hint ?? '', /hypha link/);
  assert.equal(await pass(mw, contextOf('5a1:1:2:4::/64').ctx), 'next', 'a neighbouring /64 has its own bucket');
  clock.advance(1000);
  assert.equal(await pass(mw, flooder.ctx), 'next', 'a token comes back after a second at 60 a minute');
  assert.ok((await pass(mw, flooder.ctx)) instanceof PublicError);
});

test('a linked /64 draws on the larger linked bucket; an admin is never limited', async () => {
  const clock = fakeClock();
  const mw = sourceRateLimit(limits(clock));
  const customer = contextOf('5a1:9:9:9::/64', { linked: true });
  for (let i = 0; i < 50; i++) assert.equal(await pass(mw, customer.ctx), 'next');
  const refused = await pass(mw, customer.ctx);
  assert.ok(refused instanceof PublicError);
  assert.equal(refused.extra.limit, 'http.linkedRequestsPerMinute');
  const admin = contextOf('5a1:8:8:8::/64', { linked: true, roles: ['customer', 'admin'] });
  for (let i = 0; i < 500; i++) assert.equal(await pass(mw, admin.ctx), 'next');
});

test('a refusal is held before it is answered (at most MAX_HOLD_SECONDS), so a caller that retries at once is paced; requests within the bucket are not held', async () => {
  const clock = fakeClock();
  const holds: { seconds: number; release: () => void }[] = [];
  // A fake of the gateway's timer (src/gateway/gateway.ts: setTimeout for `seconds`): it resolves only when the test releases it.
  const hold = (seconds: number): Promise<void> => new Promise((resolve) => void holds.push({ seconds, release: resolve }));
  const mw = sourceRateLimit({ ...limits(clock), hold });
  const flooder = contextOf('5a1:7:7:7::/64');
  for (let i = 0; i < 5; i++) assert.equal(await pass(mw, flooder.ctx), 'next', `request ${i + 1} of the burst`);
  assert.equal(holds.length, 0, 'requests within the bucket are not held');
  let settled = false;
  const refused = pass(mw, flooder.ctx).finally(() => void (settled = true));
  // Let every queued callback run: an answer not held would have settled by now.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, false, 'the refusal waits for the hold');
  assert.equal(holds.length, 1);
  assert.equal(holds[0]?.seconds, Math.min(1, MAX_HOLD_SECONDS));
  holds[0]?.release();
  const answer = await refused;
  assert.ok(answer instanceof PublicError);
  assert.equal(answer.code, 'rate_limited');
  assert.equal(flooder.headers.get('retry-after'), '1');
  // A slow bucket (6 a minute: Retry-After 10 s) is still held for at most MAX_HOLD_SECONDS.
  const slow = sourceRateLimit({ unlinked: new RateLimiter(6, 1, clock.nowMs), unlinkedPerMinute: 6, linked: new RateLimiter(600, 50, clock.nowMs), linkedPerMinute: 600, hold });
  const other = contextOf('5a1:6:6:6::/64');
  assert.equal(await pass(slow, other.ctx), 'next');
  const second = pass(slow, other.ctx);
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(holds.length, 2);
  assert.equal(holds[1]?.seconds, MAX_HOLD_SECONDS);
  holds[1]?.release();
  const slowAnswer = await second;
  assert.ok(slowAnswer instanceof PublicError);
  assert.equal(slowAnswer.extra.retryAfterSeconds, 10);
});
