// config.ha.stallSeconds: its default, and a bound that is not above the takeover bound refused with the field named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_STALL_SECONDS, parseHaConfig } from '../../../src/gateway/ha/ha-config.js';
import { ValidationError } from '../../../src/protocol/validate.js';

const PG = { kind: 'postgres', url: 'postgres://hypha@localhost/hypha' } as const;

test('ha.stallSeconds: 60 by default (twice the takeover bound when that is more), as given otherwise', () => {
  assert.equal(DEFAULT_STALL_SECONDS, 60);
  assert.equal(parseHaConfig({}, PG).stallMs, 60_000);
  assert.equal(parseHaConfig({ takeoverSeconds: 45 }, PG).stallMs, 90_000);
  assert.equal(parseHaConfig({ takeoverSeconds: 5, stallSeconds: 6 }, PG).stallMs, 6_000);
});

test('ha.stallSeconds: not above takeoverSeconds, not a whole number, or out of range is a ValidationError naming the field', () => {
  for (const bad of [{ stallSeconds: 15 }, { takeoverSeconds: 20, stallSeconds: 10 }, { stallSeconds: 30.5 }, { stallSeconds: '60' }, { stallSeconds: 0 }, { stallSeconds: 3601 }]) {
    assert.throws(() => parseHaConfig(bad, PG), (err: unknown) => err instanceof ValidationError && err.field === 'config.ha.stallSeconds', JSON.stringify(bad));
  }
  assert.throws(() => parseHaConfig({ stallSeconds: 15 }, PG), /must be larger than config\.ha\.takeoverSeconds \(15\)/);
});
