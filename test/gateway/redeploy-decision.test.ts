// The redeploy decision on a fake clock: both witnesses must say down for the threshold, attempts are bounded per day, and a VM that answers again is left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DAY_MS, decideRedeploy, type RedeployEvidence, type RedeployPolicy } from '../../src/gateway/redeploy/redeploy-decision.js';
import { FakeClock } from '../helpers/fake-clock.js';

const MIN = 60_000;
const policy: RedeployPolicy = { afterMs: 30 * MIN, maxPerDay: 3 };

test('decideRedeploy over a node that dies, on a fake clock', () => {
  const clock = new FakeClock();
  const placedAtMs = clock.nowMs();
  const base = (): RedeployEvidence => ({ nowMs: clock.nowMs(), placedAtMs, agentUp: false, lastAgentUpMs: placedAtMs + 10 * MIN, probeUp: false, probed: true, lastProbeUpMs: placedAtMs + 12 * MIN, attemptsMs: [] });
  clock.advance(11 * MIN);
  assert.deepEqual(decideRedeploy({ ...base(), agentUp: true, probeUp: true }, policy), { kind: 'healthy' });
  assert.equal(decideRedeploy({ ...base(), agentUp: true }, policy).kind, 'healthy', 'the agent still sees it: no move on the probes alone');
  assert.equal(decideRedeploy({ ...base(), probeUp: true }, policy).kind, 'healthy', 'the probes still reach it: no move on the agent alone');
  // The later "up" (the probe's, at +12 min) starts the down time.
  clock.set(placedAtMs + 41 * MIN);
  const d1 = decideRedeploy(base(), policy);
  assert.equal(d1.kind, 'wait');
  assert.equal(d1.kind === 'wait' ? d1.downForMs : -1, 29 * MIN);
  clock.set(placedAtMs + 42 * MIN);
  assert.deepEqual(decideRedeploy(base(), policy), { kind: 'redeploy', downForMs: 30 * MIN });
});

test('decideRedeploy: no second witness, no move; down time starts at the placement at the earliest', () => {
  const clock = new FakeClock();
  const placedAtMs = clock.nowMs();
  clock.advance(5 * 60 * MIN);
  const e: RedeployEvidence = { nowMs: clock.nowMs(), placedAtMs, agentUp: false, probeUp: false, probed: false, attemptsMs: [] };
  const unprobed = decideRedeploy(e, policy);
  assert.equal(unprobed.kind, 'wait');
  assert.match(unprobed.kind === 'wait' ? unprobed.reason : '', /probes have not checked it/);
  // An old "up" from before the VM was moved here does not count: the placement is later.
  const moved = decideRedeploy({ ...e, probed: true, placedAtMs: clock.nowMs() - 10 * MIN, lastAgentUpMs: placedAtMs }, policy);
  assert.deepEqual(moved, { kind: 'wait', downForMs: 10 * MIN, reason: 'down for 10 min, redeployed after 30 min' });
});

test('decideRedeploy: at most maxPerDay attempts in any 24 h, then it waits with the time of the next', () => {
  const clock = new FakeClock();
  const t0 = clock.nowMs();
  const at = (attemptsMs: number[]): RedeployEvidence => ({ nowMs: clock.nowMs(), placedAtMs: t0, agentUp: false, probeUp: false, probed: true, attemptsMs });
  clock.advance(60 * MIN);
  const table: Array<[string, number[], string]> = [
    ['none yet', [], 'redeploy'],
    ['two of three', [t0 + MIN, t0 + 2 * MIN], 'redeploy'],
    ['three of three', [t0 + MIN, t0 + 2 * MIN, t0 + 3 * MIN], 'exhausted'],
    ['three, one over a day ago', [t0 + 60 * MIN - DAY_MS - 1, t0 + 2 * MIN, t0 + 3 * MIN], 'redeploy'],
    ['three, one exactly a day ago (out of the window)', [t0 + 60 * MIN - DAY_MS, t0 + 2 * MIN, t0 + 3 * MIN], 'redeploy'],
  ];
  for (const [name, attempts, want] of table) assert.equal(decideRedeploy(at(attempts), policy).kind, want, name);
  const ex = decideRedeploy(at([t0 + MIN, t0 + 2 * MIN, t0 + 3 * MIN]), policy);
  assert.equal(ex.kind === 'exhausted' ? ex.nextAttemptAtMs : -1, t0 + MIN + DAY_MS);
  assert.equal(decideRedeploy(at([]), { ...policy, maxPerDay: 0 }).kind, 'exhausted', 'maxPerDay 0: never');
});
