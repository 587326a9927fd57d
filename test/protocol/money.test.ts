// Amounts: decimal strings <-> micro-units, from the table in test/vectors/amounts.json, plus round trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AmountError, formatAmount, parseAmount, parsePositiveAmount } from '../../src/protocol/money.js';
import { readVectors } from '../helpers/paths.js';
import { SeededRandom, testSeed } from '../helpers/seeded-random.js';

interface Vectors {
  parse: { accepted: { text: string; micros: string }[]; refused: { name: string; value: unknown }[] };
  format: { micros: string; text: string }[];
}
const vectors = readVectors<Vectors>('amounts.json');

test('parseAmount accepts decimal strings with up to 6 places', async (t) => {
  assert.ok(vectors.parse.accepted.length >= 8);
  for (const v of vectors.parse.accepted) {
    await t.test(JSON.stringify(v.text), () => assert.equal(parseAmount('amount', v.text), BigInt(v.micros)));
  }
});

test('parseAmount refuses everything else with an AmountError naming the field', async (t) => {
  assert.ok(vectors.parse.refused.length >= 15);
  const cases = [...vectors.parse.refused, { name: 'undefined', value: undefined }, { name: 'a bigint', value: 1n }, { name: 'an array', value: ['1'] }];
  for (const v of cases) {
    await t.test(v.name, () => {
      assert.throws(
        () => parseAmount('deposit', v.value),
        (e: unknown) => e instanceof AmountError && e instanceof RangeError && e.field === 'deposit' && e.message.startsWith('deposit: '),
      );
    });
  }
});

test('parseAmount says a number is refused because floats lose money', () => {
  assert.throws(() => parseAmount('amount', 1), /amount: must be a decimal string such as "1\.500000", got a number/);
});

test('parsePositiveAmount refuses zero in any spelling and takes one micro', () => {
  for (const zero of ['0', '0.0', '0.000000']) assert.throws(() => parsePositiveAmount('price', zero), (e: unknown) => e instanceof AmountError && e.message === 'price: must be more than zero');
  assert.equal(parsePositiveAmount('price', '0.000001'), 1n);
});

test('formatAmount writes 6 places, for zero, small, huge and negative amounts', async (t) => {
  for (const v of vectors.format) {
    await t.test(v.micros, () => assert.equal(formatAmount(BigInt(v.micros)), v.text));
  }
});

test('round trips: parse(format(x)) = x and format(parse(s)) is s with 6 places', (t) => {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (repeat with HYPHA_TEST_SEED=${seed})`);
  const rng = new SeededRandom(seed);
  for (let i = 0; i < 5000; i++) {
    const micros = rng.bigDigits(rng.int(1, 36));
    assert.equal(parseAmount('x', formatAmount(micros)), micros, `seed ${seed}: ${micros}`);
  }
  for (const v of vectors.parse.accepted) {
    const text = formatAmount(parseAmount('x', v.text));
    assert.match(text, /^\d+\.\d{6}$/);
    assert.equal(parseAmount('x', text), BigInt(v.micros));
    const [whole, frac = ''] = v.text.split('.');
    assert.equal(text, `${whole}.${frac.padEnd(6, '0')}`);
  }
});
