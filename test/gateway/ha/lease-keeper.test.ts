// The lease keeper on a fake clock and a fake lease store: becomes active, renews, steps down on its own clock in an outage, and on seeing another holder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseKeeper, type LeaseStore } from '../../../src/gateway/ha/lease-keeper.js';
import { decideLease, type LeaseClaim, type LeaseOutcome, type LeaseRow } from '../../../src/gateway/ha/lease-rules.js';
import { FakeClock } from '../../helpers/fake-clock.js';

/**
 * A fake of the LeaseStore port, shaped from src/gateway/ha/pg-lease-store.ts: one row, the same rule, the (fake)
 * database clock; `down` makes rounds fail like a lost connection (dropped, so the next round connects again), and
 * a connect takes `connectMs` of the shared fake clock (a database just restarted, a loaded host).
 */
class FakeLeaseStore implements LeaseStore {
  row: LeaseRow | undefined;
  down = false;
  connectMs = 0;
  /** How long a round's statement waits before the database decides and answers (a stalled server or host). */
  answerMs = 0;
  private connected = false;
  constructor(private readonly dbClock: FakeClock) {}
  ready(): Promise<void> {
    if (this.down) return Promise.reject(new Error('connect ECONNREFUSED'));
    if (!this.connected) this.dbClock.advance(this.connectMs);
    this.connected = true;
    return Promise.resolve();
  }
  round(me: LeaseClaim, ttlMs: number): Promise<LeaseOutcome> {
    if (this.down) {
      this.connected = false;
      return Promise.reject(new Error('connect ECONNREFUSED'));
    }
    this.dbClock.advance(this.answerMs);
    const out = decideLease(this.row, me, this.dbClock.nowMs(), ttlMs);
    this.row = out.row;
    return Promise.resolve(out);
  }
  release(me: LeaseClaim, token: number): Promise<void> {
    if (this.row?.holder === me.holder && this.row.token === token) this.row = { ...this.row, expiresAtMs: this.dbClock.nowMs() };
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const TTL = 9_000;

function keeper(store: FakeLeaseStore, clock: FakeClock, name: string): { k: LeaseKeeper; seen: string[] } {
  const k = new LeaseKeeper({ store, claim: { holder: `${name}#1`, url: `http://${name}` }, ttlMs: TTL, clock });
  const seen: string[] = [];
  k.signals.on('active', (token) => seen.push(`active:${token}`));
  k.signals.on('standby', (_why, url) => seen.push(`standby:${url ?? '?'}`));
  k.signals.on('outage', () => seen.push('outage'));
  return { k, seen };
}

/** Two keepers on one fake store and clock, each after its first round: a active, b standing by. */
async function activeAndStandby(): Promise<{ clock: FakeClock; store: FakeLeaseStore; a: ReturnType<typeof keeper>; b: ReturnType<typeof keeper> }> {
  const clock = new FakeClock();
  const store = new FakeLeaseStore(clock);
  const a = keeper(store, clock, 'a');
  const b = keeper(store, clock, 'b');
  await a.k.round();
  await b.k.round();
  return { clock, store, a, b };
}

test('two keepers: the first is active, the second a standby that knows where the active one is; a takeover after the holder stops renewing', async () => {
  const { clock, a, b } = await activeAndStandby();
  assert.equal(a.k.role(), 'active');
  assert.equal(b.k.role(), 'standby');
  assert.equal(b.k.activeUrl(), 'http://a');
  assert.deepEqual(b.seen, ['standby:http://a'], 'the standby says so once');
  clock.advance(3_000);
  await a.k.round();
  await b.k.round();
  assert.deepEqual(a.seen, ['active:1'], 'a renewal is no new takeover');
  assert.equal(a.k.writeToken()?.token, 1);

  // a stops (paused); b takes over once the row expires, with the next token.
  clock.advance(TTL);
  await b.k.round();
  assert.equal(b.k.role(), 'active');
  assert.deepEqual(b.seen, ['standby:http://a', 'active:2']);
  // a's own clock also says its lease ran out: no token to write under, even before a round.
  assert.equal(a.k.writeToken(), undefined);
  assert.equal(a.k.role(), 'standby');
  await a.k.round();
  assert.equal(a.k.activeUrl(), 'http://b');
});

test('an outage: the holder keeps its role while the ttl lasts, then steps down on its own clock; it comes back under a new token', async () => {
  const clock = new FakeClock();
  const store = new FakeLeaseStore(clock);
  const a = keeper(store, clock, 'a');
  await a.k.round();
  store.down = true;
  clock.advance(3_000);
  await a.k.round();
  assert.equal(a.k.role(), 'active', 'one failed round is not a loss');
  assert.match(a.k.outage() ?? '', /did not answer/);
  clock.advance(TTL - 3_000);
  await a.k.round();
  assert.equal(a.k.role(), 'standby', 'stepped down when its last renewal was ttl old');
  assert.equal(a.k.activeUrl(), undefined, 'a standby that stepped down does not name itself as the active gateway');
  store.down = false;
  await a.k.round();
  assert.equal(a.k.outage(), null);
  assert.equal(a.k.role(), 'active');
  assert.deepEqual(a.seen, ['active:1', 'outage', 'outage', 'standby:?', 'active:2']);
});

test('a fenced write steps the holder down at once; close releases the lease so a standby takes it without waiting', async () => {
  const clock = new FakeClock();
  const store = new FakeLeaseStore(clock);
  const a = keeper(store, clock, 'a');
  const b = keeper(store, clock, 'b');
  await a.k.round();
  a.k.fenced();
  assert.equal(a.k.role(), 'standby');
  clock.advance(1);
  await a.k.round();
  assert.equal(a.k.role(), 'active', 'its row was still live: it renews and is active again under the same token');
  await a.k.close();
  await b.k.round();
  assert.equal(b.k.role(), 'active');
  assert.equal(b.k.writeToken()?.token, 2);
});

test('a holder stalled past its ttl (its watchdog never ran) steps down before its next answer counts: taken again, it is a new term (standby, then active under the next token)', async () => {
  const clock = new FakeClock();
  const store = new FakeLeaseStore(clock);
  const a = keeper(store, clock, 'a');
  await a.k.round();
  // The event loop was blocked: no watchdog, no round, while the lease ran out in the database.
  clock.advance(TTL + 1);
  await a.k.round();
  assert.equal(a.k.writeToken()?.token, 2);
  assert.equal(a.k.term(), 2, 'the gateway sees a new term (src/gateway/gateway.ts reloads on it)');
  assert.deepEqual(a.seen, ['active:1', 'standby:?', 'active:2'], 'the old term ended (every active part closed) before the new one reloads state');
});

test('in the lease worker: a main thread silent longer than the ttl but under the stall bound keeps the lease; silent for the bound, the holder gives it up at once and does not ask again until the main thread runs', async () => {
  const clock = new FakeClock();
  const store = new FakeLeaseStore(clock);
  const STALL = 5 * TTL;
  let lastStampMs = clock.nowMs();
  const a = new LeaseKeeper({ store, claim: { holder: 'a#1', url: 'http://a' }, ttlMs: TTL, clock, liveness: { silentMs: () => clock.nowMs() - lastStampMs, stallMs: STALL } });
  const b = keeper(store, clock, 'b');
  const seen: string[] = [];
  a.signals.on('active', (token) => seen.push(`active:${token}`));
  a.signals.on('standby', (why) => seen.push(`standby:${why}`));
  await a.round();
  // The main thread stalls for 3 ttls: the worker's rounds go on (every ttl/3) and renew.
  for (let t = 0; t < 9; t++) {
    clock.advance(TTL / 3);
    await a.round();
    await b.k.round();
  }
  assert.equal(a.role(), 'active');
  assert.equal(a.holding()?.token, 1, 'no new term: the stall cost nothing');
  assert.equal(b.k.role(), 'standby');
  // Still silent: at the bound the holder stands down and releases; the standby takes over on its next round, without waiting out the ttl.
  clock.set(lastStampMs + STALL);
  await a.round();
  assert.equal(a.role(), 'standby');
  assert.equal(a.holding(), undefined);
  assert.match(seen.at(-1) ?? '', /^standby:the gateway's main thread has not run for 45\.0 s, past ha\.stallSeconds/);
  await b.k.round();
  assert.equal(b.k.writeToken()?.token, 2);
  // Free again later: a silent gateway does not take it.
  await b.k.close();
  clock.advance(1);
  await a.round();
  assert.equal(a.role(), 'standby', 'a hung gateway does not take a free lease');
  // The main thread runs again: a takes part again, under a new token (a new term, state reloaded).
  lastStampMs = clock.nowMs();
  await a.round();
  assert.equal(a.holding()?.token, 3);
  assert.deepEqual(seen.map((s) => s.split(':')[0]), ['active', 'standby', 'active']);
});

test('a lease taken by a round whose connect was slow (the database just came back, a loaded host) lasts its full ttl here too: no step-down before the first renewal, no second takeover', async () => {
  const clock = new FakeClock();
  const store = new FakeLeaseStore(clock);
  // Before the outage b held token 1; both are standbys when the database comes back.
  store.row = { holder: 'b#1', url: 'http://b', token: 1, expiresAtMs: clock.nowMs() - 1 };
  const a = keeper(store, clock, 'a');
  const b = keeper(store, clock, 'b');
  // a's round after the restart spends 7 s of its 9 s ttl connecting, then takes the lease: the database's
  // expiry is counted from its statement, a full ttl after the connect.
  store.connectMs = 7_000;
  await a.k.round();
  assert.deepEqual(a.seen, ['active:2']);
  const takenAt = clock.nowMs();
  assert.equal(store.row.expiresAtMs, takenAt + TTL);
  // The reload writes under token 2 until the first renewal (one round, ttl/3, later). Counted from before the
  // connect, the lease ended here 2 s after it was taken: these writes were refused, the gateway gave the lease up.
  clock.advance(TTL / 3 - 1);
  assert.equal(a.k.writeToken()?.token, 2, 'the token the database holds for 9 s more is good for writes here');
  clock.advance(1);
  await a.k.round();
  await b.k.round();
  assert.deepEqual(a.seen, ['active:2'], 'renewed: no step-down and no second activation (each one reloads the state)');
  assert.deepEqual([b.k.role(), store.row.holder, store.row.token], ['standby', 'a#1', 2], 'one takeover, under the next token');
});

test('a resignation or a fenced write of a term that already ended leaves the new term alone (src/gateway/gateway.ts names the term it tried)', async () => {
  const clock = new FakeClock();
  const store = new FakeLeaseStore(clock);
  const a = keeper(store, clock, 'a');
  await a.k.round();
  assert.equal(a.k.term(), 1);
  // Stalled past its ttl, then taken again: term 2, while term 1's failure is still on its way.
  clock.advance(TTL + 1);
  await a.k.round();
  assert.equal(a.k.term(), 2);
  await a.k.resign('the active parts failed to start', 1);
  a.k.fenced(1);
  assert.equal(a.k.role(), 'active', 'term 1 ended: its resignation and its fenced write do not end term 2');
  assert.equal(store.row?.expiresAtMs, clock.nowMs() + TTL, 'and the row was not released');
  await a.k.resign('the active parts failed to start', 2);
  assert.equal(a.k.role(), 'standby', "term 2's own resignation does");
  assert.equal(store.row?.expiresAtMs, clock.nowMs());
});

test('a keeper made with a hold-off (a lease worker started again after one died) takes no round until it ends: the standby that saw the dead one\'s lease lapse takes it, whoever asks first after the lapse', async () => {
  const { clock, store, b } = await activeAndStandby();
  // a's worker dies: nothing renews; one ttl later (the respawn wait) a new worker starts, as the lease lapses.
  clock.advance(TTL);
  const again = new LeaseKeeper({ store, claim: { holder: 'a#1', url: 'http://a' }, ttlMs: TTL, clock, holdOffMs: 2 * 3_000 });
  await again.round();
  assert.equal(again.role(), 'standby', 'asked first after the lapse, the new worker still sits out');
  await b.k.round();
  assert.equal(b.k.role(), 'active', 'the standby takes the lapsed lease');
  clock.advance(2 * 3_000);
  await again.round();
  assert.equal(again.role(), 'standby');
  assert.equal(again.activeUrl(), 'http://b', 'after the hold-off it follows the lease again');
});

test('a lease taken again by a round answered late (the database stalled past the ttl) is renewed before the little left of it runs out: one step-down for one stall, not two', async () => {
  const clock = new FakeClock();
  const store = new FakeLeaseStore(clock);
  const a = keeper(store, clock, 'a');
  await a.k.round();
  assert.equal(a.k.nextRoundInMs(), TTL / 3, 'a prompt answer keeps the usual cadence');
  clock.advance(a.k.nextRoundInMs());
  // The round's statement waits out a stall longer than the lease: the database finds it lapsed and
  // grants it anew (token 2), but here it counts from the ask, so only 300 ms of it are left.
  store.answerMs = TTL - 300;
  await a.k.round();
  store.answerMs = 0;
  assert.equal(a.k.role(), 'active');
  assert.deepEqual(a.seen, ['active:1', 'standby:?', 'active:2'], 'the lapse itself ends the first term');
  const wait = a.k.nextRoundInMs();
  assert.ok(wait < 300, `the next round starts before the 300 ms left run out (in ${wait} ms)`);
  clock.advance(wait);
  await a.k.round();
  // Past the end of the late round's lease, and the watchdog's check: still term 2.
  clock.advance(TTL / 3);
  a.k.expire();
  await a.k.round();
  assert.equal(a.k.role(), 'active');
  assert.equal(a.k.nextRoundInMs(), TTL / 3, 'back to the usual cadence once a round answered promptly');
  assert.deepEqual(a.seen, ['active:1', 'standby:?', 'active:2'], 'no second step-down and retake');

  // Failed rounds keep the usual cadence: an unreachable database is not asked in a tight loop.
  store.down = true;
  clock.advance(TTL / 3);
  await a.k.round();
  assert.equal(a.k.nextRoundInMs(), TTL / 3);
});
