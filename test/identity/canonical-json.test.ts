// Canonical JSON: the table of known forms, refusals with paths, and round trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CanonicalJsonError, canonicalJson } from '../../src/identity/index.js';
import fc from 'fast-check';
import { readVectors } from '../helpers/paths.js';

const { valid } = readVectors<{ valid: Array<{ value: unknown; canonical: string }> }>('canonical-json.json');

test('known canonical forms, each of which parses back to an equal value', () => {
  for (const row of valid) {
    assert.equal(canonicalJson(row.value), row.canonical);
    assert.deepEqual(JSON.parse(row.canonical), row.value);
  }
});

test('key order of the input does not matter', () => {
  assert.equal(canonicalJson({ b: { y: 1, x: 2 }, a: 0 }), canonicalJson({ a: 0, b: { x: 2, y: 1 } }));
});

test('values that do not survive a round trip are refused, naming where they are', () => {
  const sparse: unknown[] = [1];
  sparse[2] = 3;
  const cases: Array<[string, unknown, RegExp]> = [
    ['NaN', { a: NaN }, /\$\.a: NaN is not a finite number/],
    ['Infinity', [Infinity], /\$\[0\]/],
    ['-0', { n: -0 }, /-0/],
    ['unsafe integer', { n: 2 ** 53 }, /beyond 2\^53/],
    ['undefined', { u: undefined }, /\$\.u: a undefined/],
    ['function', { f: () => 1 }, /function/],
    ['bigint', { b: 1n }, /bigint/],
    ['symbol', [Symbol('s')], /symbol/],
    ['Date', { d: new Date(0) }, /plain objects/],
    ['Buffer', { b: Buffer.from('x') }, /plain objects/],
    ['lone high surrogate', { s: 'a\ud800' }, /lone UTF-16 surrogate/],
    ['lone low surrogate key', { ['\udc00']: 1 }, /lone UTF-16 surrogate/],
    ['sparse array', sparse, /sparse/],
  ];
  for (const [name, value, message] of cases) {
    assert.throws(() => canonicalJson(value), (err: unknown) => err instanceof CanonicalJsonError && message.test(err.message), name);
  }
});

test('a paired surrogate (an emoji) is fine', () => {
  assert.equal(canonicalJson({ s: '🍄' }), '{"s":"🍄"}');
});

test('keys that look like array indexes still sort as text (JS objects would put them first)', () => {
  assert.equal(canonicalJson({ b: 1, 10: 'x', 9: 'y', a: [{ 2: 0, 1: 0 }] }), '{"10":"x","9":"y","a":[{"1":0,"2":0}],"b":1}');
  assert.equal(canonicalJson(JSON.parse('{"__proto__":{"z":1,"a":2}}')), '{"__proto__":{"a":2,"z":1}}');
});

test('property: the output is sorted-key JSON that parses back to an equal value, for any JSON value', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      let text: string;
      try {
        text = canonicalJson(value);
      } catch (err) {
        assert.ok(err instanceof CanonicalJsonError, String(err));
        return;
      }
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
      assert.equal(canonicalJson(JSON.parse(text)), text, 'canonical form is a fixed point');
    }),
    { numRuns: 500 },
  );
});
