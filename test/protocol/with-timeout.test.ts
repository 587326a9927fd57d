// withTimeout: passes on what the work answers, or the caller's error once the time is up, and leaves no timer behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTimeout } from '../../src/protocol/with-timeout.js';

/** How many timers are keeping the event loop alive right now. */
function liveTimers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

const never = (): Error => assert.fail('onTimeout ran although the work settled in time');

test('withTimeout resolves with the value of work that settles in time', async () => {
  assert.equal(await withTimeout(Promise.resolve(42), 60_000, never), 42);
});

test('withTimeout rejects with the error of work that fails in time', async () => {
  const refused = new RangeError('refused');
  await assert.rejects(withTimeout(Promise.reject(refused), 60_000, never), (err: unknown) => err === refused);
});

test('withTimeout rejects with the onTimeout error when the work never settles', async () => {
  let calls = 0;
  const late = new Error('no answer within 5 ms');
  const forever = new Promise<number>(() => undefined);
  await assert.rejects(
    withTimeout(forever, 5, () => {
      calls++;
      return late;
    }),
    (err: unknown) => err === late,
  );
  assert.equal(calls, 1);
});

test('withTimeout clears its timer once the work has settled', async () => {
  const before = liveTimers();
  await withTimeout(Promise.resolve('done'), 60_000, never);
  await withTimeout(Promise.reject(new Error('failed')), 60_000, never).catch(() => undefined);
  assert.equal(liveTimers(), before);
});
