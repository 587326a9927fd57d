// Which clock an answer's times are on: the name the gateway puts beside them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clockName, ScaledClock, SystemClock } from '../../src/protocol/clock.js';
import { FakeClock } from '../helpers/fake-clock.js';

test('clockName: the lab ScaledClock is "lab", wall time and fakes are "wall"', () => {
  assert.equal(clockName(new ScaledClock(Date.now(), 2)), 'lab');
  assert.equal(clockName(new SystemClock()), 'wall');
  assert.equal(clockName(new FakeClock()), 'wall');
});
