// HeartbeatChain without sockets: in-order heartbeats, replays (same and changed), gaps, forged previous heads, period closes, and the heads it remembers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeartbeatChain, RECENT_HEADS, type ChainedHeartbeat } from '../../src/gateway/agents/heartbeat-chain.js';
import { chainNext, GENESIS_HEAD } from '../../src/protocol/heartbeat.js';

const PERIOD = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
/** A window that moves no heartbeat: nothing closed yet, and now far ahead. */
const OPEN = { closedThroughMs: 0, nowMs: Number.MAX_SAFE_INTEGER };

/** An agent's chain of `n` heartbeats every 15 s from T0, each naming the head before it (as src/agent/agent.ts makes them). */
function agentChain(n: number, from = { seq: 0, head: GENESIS_HEAD }, startMs = T0): ChainedHeartbeat[] {
  const out: ChainedHeartbeat[] = [];
  let head = from.head;
  for (let i = 1; i <= n; i++) {
    const hb: ChainedHeartbeat = { seq: from.seq + i, atMs: startMs + (i - 1) * 15_000, prev: head, nodes: [{ id: 'node-1', up: true }], vms: [{ id: 'dep_1', reachable: i % 7 !== 0 }] };
    head = chainNext(head, hb);
    out.push(hb);
  }
  return out;
}

test('heartbeats in order move the chain to the same head the agent computed', () => {
  const chain = HeartbeatChain.genesis(PERIOD);
  const hbs = agentChain(5);
  for (const hb of hbs) assert.deepEqual(chain.accept(hb, OPEN), { kind: 'next', head: chainNext(hb.prev, hb), mismatch: false });
  assert.equal(chain.seq, 5);
  assert.equal(chain.head, chainNext((hbs[4] as ChainedHeartbeat).prev, hbs[4] as ChainedHeartbeat));
});

test('a replay of the same heartbeat is accepted quietly; a replay with other content is a mismatch and changes nothing', () => {
  const chain = HeartbeatChain.genesis(PERIOD);
  const hbs = agentChain(3);
  for (const hb of hbs) chain.accept(hb, OPEN);
  const head = chain.head;
  assert.deepEqual(chain.accept(hbs[1] as ChainedHeartbeat, OPEN), { kind: 'replay', mismatch: false });
  assert.deepEqual(chain.accept({ ...(hbs[1] as ChainedHeartbeat), nodes: [{ id: 'node-1', up: false }] }, OPEN), { kind: 'replay', mismatch: true });
  assert.equal(chain.head, head);
  assert.equal(chain.seq, 3);
});

test('a gap names the first missing heartbeat; a wrong previous head is a mismatch; both are chained from the agent\'s own head', () => {
  const chain = HeartbeatChain.genesis(PERIOD);
  const hbs = agentChain(6);
  chain.accept(hbs[0] as ChainedHeartbeat, OPEN);
  const gap = chain.accept(hbs[3] as ChainedHeartbeat, OPEN);
  assert.deepEqual(gap, { kind: 'next', head: chainNext((hbs[3] as ChainedHeartbeat).prev, hbs[3] as ChainedHeartbeat), gapFrom: 2, mismatch: false });
  assert.deepEqual(chain.accept(hbs[4] as ChainedHeartbeat, OPEN), { kind: 'next', head: chainNext((hbs[4] as ChainedHeartbeat).prev, hbs[4] as ChainedHeartbeat), mismatch: false }, 'after the gap the chain continues');
  const forged = { ...(hbs[5] as ChainedHeartbeat), prev: 'ab'.repeat(32) };
  const step = chain.accept(forged, OPEN);
  assert.equal(step.kind === 'next' && step.mismatch, true);
  assert.equal(chain.head, chainNext(forged.prev, forged));
});

test('a chain restored from the store continues from its stored seq and head', () => {
  const first = agentChain(10);
  const whole = HeartbeatChain.genesis(PERIOD);
  for (const hb of first) whole.accept(hb, OPEN);
  const restored = new HeartbeatChain(10, whole.head, PERIOD);
  const next = agentChain(2, { seq: 10, head: whole.head }, T0 + 150_000);
  for (const hb of next) assert.deepEqual(restored.accept(hb, OPEN), { kind: 'next', head: chainNext(hb.prev, hb), mismatch: false });
  assert.deepEqual(restored.accept({ ...(next[0] as ChainedHeartbeat) }, OPEN), { kind: 'replay', mismatch: false });
});

test('a period close returns the last heartbeat of the closed periods and forgets them; open periods stay', () => {
  const chain = HeartbeatChain.genesis(PERIOD);
  const p0 = agentChain(3, { seq: 0, head: GENESIS_HEAD }, T0 + PERIOD - 45_000);
  for (const hb of p0) chain.accept(hb, OPEN);
  const afterP0 = { seq: chain.seq, head: chain.head };
  const p1 = agentChain(2, afterP0, T0 + PERIOD + 1_000);
  for (const hb of p1) chain.accept(hb, OPEN);
  assert.equal(chain.closeThrough(T0), undefined, 'nothing ended by T0');
  assert.deepEqual(chain.closeThrough(T0 + PERIOD), afterP0);
  assert.equal(chain.closeThrough(T0 + PERIOD), undefined, 'closed once');
  assert.deepEqual(chain.closeThrough(T0 + 2 * PERIOD), { seq: 5, head: chain.head });
});

test('headAt knows recent heads and each open period\'s last, and forgets heads older than RECENT_HEADS', () => {
  const chain = HeartbeatChain.genesis(PERIOD);
  const hbs = agentChain(RECENT_HEADS + 10);
  const heads = new Map<number, string>();
  for (const hb of hbs) {
    const step = chain.accept(hb, OPEN);
    if (step.kind === 'next') heads.set(hb.seq, step.head);
  }
  assert.equal(chain.headAt(RECENT_HEADS + 10), heads.get(RECENT_HEADS + 10));
  assert.equal(chain.headAt(11), heads.get(11));
  assert.equal(chain.headAt(5), undefined, 'old heads are forgotten (bounded memory)');
  // A forgotten seq replayed with other content cannot be checked any more: it is taken as a plain replay.
  assert.deepEqual(chain.accept({ ...(hbs[4] as ChainedHeartbeat), vms: [] }, OPEN), { kind: 'replay', mismatch: false });
  // The last heartbeat of each open period is still known, whatever its age.
  const lastOfFirstPeriod = hbs.filter((hb) => hb.atMs < T0 + PERIOD).pop() as ChainedHeartbeat;
  assert.equal(chain.headAt(lastOfFirstPeriod.seq), heads.get(lastOfFirstPeriod.seq));
});

test('a heartbeat counts for its own period, but never before the last closed one nor after now: stamps cannot grow the open periods', () => {
  const chain = HeartbeatChain.genesis(PERIOD);
  const window = { closedThroughMs: T0 + 2 * PERIOD, nowMs: T0 + 3 * PERIOD + 10_000 };
  // 200 heartbeats stamped at 200 distinct periods, far in the past and far in the future.
  let prev = GENESIS_HEAD;
  for (let i = 1; i <= 200; i++) {
    const atMs = i % 2 === 0 ? T0 + i * 1000 * PERIOD : T0 - i * PERIOD;
    const hb: ChainedHeartbeat = { seq: i, atMs, prev, nodes: [{ id: 'node-1', up: true }], vms: [] };
    assert.equal(chain.accept(hb, window).kind, 'next');
    prev = chainNext(prev, hb);
  }
  // Only the last closed period (T0+1h) and the current one (T0+3h) hold an entry.
  assert.equal(chain.openPeriods, 2);
  const durable = chain.closeThrough(T0 + 2 * PERIOD);
  assert.equal(durable?.seq, 199);
  assert.equal(chain.openPeriods, 1);
});
