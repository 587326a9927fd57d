// amountOf and amountText: the same answers as parseAmount and formatAmount, from the cache and past its bound, and a refused text is refused every time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { amountOf, amountText } from '../../src/gateway/billing/amount-cache.js';
import { formatAmount, parseAmount } from '../../src/protocol/money.js';

test('property: amountOf is parseAmount and amountText is formatAmount, first time and cached, over more values than the cache keeps', () => {
  fc.assert(
    fc.property(fc.array(fc.bigInt({ min: 0n, max: 10n ** 15n }), { minLength: 1, maxLength: 6000 }), (values) => {
      for (const micros of values) {
        const text = amountText(micros);
        assert.equal(text, formatAmount(micros));
        assert.equal(amountOf('amount', text), parseAmount('amount', text));
        assert.equal(amountOf('amount', text), micros, 'again, from the cache');
      }
    }),
    { numRuns: 5 },
  );
});

test('a text parseAmount refuses is refused each time, naming the field, and is never cached', () => {
  for (const bad of ['1.2345678', '-1.000000', 'abc', '']) {
    assert.throws(() => amountOf('farmerShare', bad), /farmerShare/);
    assert.throws(() => amountOf('farmerShare', bad), /farmerShare/);
  }
  assert.equal(amountOf('amount', '0.050000'), 50_000n);
});
