// The grace rule on a fake clock: when arrears put a deployment into grace, when paying takes it out, and when an unpaid grace ends it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { graceStep, type GraceStep } from '../../src/gateway/billing/grace-rule.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';

const HOUR = 3_600_000;
const GRACE = 72 * HOUR;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

type GraceView = Pick<DeploymentRecord, 'state' | 'graceUntilMs'>;

test('an active deployment enters grace on any arrears, until now + the grace period', () => {
  assert.deepEqual(graceStep({ state: 'active' }, 1n, T0, GRACE), { kind: 'enter', untilMs: T0 + GRACE });
  assert.deepEqual(graceStep({ state: 'active' }, 0n, T0, GRACE), { kind: 'stay' });
});

test('in grace: paid means back to active even past the end; owing past the end means deprovision; owing before it, stay', () => {
  const inGrace: GraceView = { state: 'grace', graceUntilMs: T0 + GRACE };
  assert.deepEqual(graceStep(inGrace, 0n, T0 + GRACE + 1, GRACE), { kind: 'leave' });
  assert.deepEqual(graceStep(inGrace, 5n, T0 + GRACE - 1, GRACE), { kind: 'stay' });
  assert.deepEqual(graceStep(inGrace, 5n, T0 + GRACE, GRACE), { kind: 'end', untilMs: T0 + GRACE });
  assert.deepEqual(graceStep({ state: 'grace' }, 5n, T0 + 100 * GRACE, GRACE), { kind: 'stay' }, 'no recorded end: nothing is ended by guesswork');
});

test('other states are left alone whatever they owe', () => {
  for (const state of ['provisioning', 'deprovisioned'] as const) {
    assert.deepEqual(graceStep({ state }, 10n, T0 + 10 * GRACE, GRACE), { kind: 'stay' }, state);
  }
});

test('over any history of settles, a deployment is ended only after a whole grace period owing, and never while paid up', () => {
  // Each settle: time moves on by 0–30 h, and the deployment owes something or nothing.
  const settle = fc.record({ advanceMs: fc.integer({ min: 0, max: 30 * HOUR }), owes: fc.boolean() });
  fc.assert(
    fc.property(fc.array(settle, { maxLength: 40 }), (settles) => {
      let d: GraceView = { state: 'active' };
      let now = T0;
      let owingSince: number | undefined;
      for (const s of settles) {
        now += s.advanceMs;
        const arrears = s.owes ? 1n : 0n;
        const step: GraceStep = graceStep(d, arrears, now, GRACE);
        if (step.kind === 'enter') {
          assert.equal(d.state, 'active');
          assert.ok(s.owes);
          owingSince = now;
          d = { state: 'grace', graceUntilMs: step.untilMs };
        } else if (step.kind === 'leave') {
          assert.equal(d.state, 'grace');
          assert.ok(!s.owes);
          owingSince = undefined;
          d = { state: 'active' };
        } else if (step.kind === 'end') {
          assert.ok(s.owes, 'ended while paid up');
          assert.ok(owingSince !== undefined && now - owingSince >= GRACE, 'ended before a whole grace period');
          d = { state: 'deprovisioned' };
        } else {
          // Staying put is right only when nothing above applies.
          if (d.state === 'active') assert.ok(!s.owes);
          if (d.state === 'grace') assert.ok(s.owes && now < (d.graceUntilMs as number));
        }
      }
    }),
    { numRuns: 500 },
  );
});
