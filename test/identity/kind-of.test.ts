// kindOf: the wording of "got Y" in every validation message, one row per kind of value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kindOf } from '../../src/identity/kind-of.js';
import { ensureString } from '../../src/identity/bytes.js';
import { expectString } from '../../src/protocol/validate.js';

const rows: Array<{ value: unknown; kind: string }> = [
  { value: null, kind: 'null' },
  { value: undefined, kind: 'undefined' },
  { value: [1, 2], kind: 'an array' },
  { value: { a: 1 }, kind: 'an object' },
  { value: new Uint8Array(2), kind: 'an object' },
  { value: 'secret-text', kind: 'a string' },
  { value: 42, kind: 'a number' },
  { value: true, kind: 'boolean' },
  { value: 7n, kind: 'bigint' },
];

test('kindOf names each kind of value without echoing it', () => {
  for (const row of rows) {
    assert.equal(kindOf(row.value), row.kind, String(row.kind));
  }
});

test('identity and protocol checks word the wrong kind the same way', () => {
  for (const value of [null, [1], { a: 1 }, 42]) {
    assert.throws(() => ensureString('name', value), { message: `name must be a string, got ${kindOf(value)}` });
    assert.throws(() => expectString(value, 'name'), { message: `name: must be a string, got ${kindOf(value)}` });
  }
});
