// receiptId, hashed from a kept buffer on either primitives, is the id it always was: the first 12 bytes of BLAKE2b-128 of `deployment\nperiodStartMs`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sodiumPrimitives } from '../../src/identity/libsodium.js';
import { portablePrimitives } from '../../src/identity/portable-primitives.js';
import { cryptoPrimitives, usePrimitives } from '../../src/identity/index.js';
import { receiptId } from '../../src/protocol/receipt.js';

/** The id as the code before the kept buffer wrote it (an array per step), with node's own encoder and hex. */
const idAsBefore = (deployment: string, periodStartMs: number, p = cryptoPrimitives()): string =>
  'rcp_' + Buffer.from(p.blake2b(new TextEncoder().encode(`${deployment}\n${periodStartMs}`), 16).subarray(0, 12)).toString('hex');

test('receiptId of a known deployment and period is the id receipts already carry, on both primitives', () => {
  const before = cryptoPrimitives();
  try {
    for (const p of [portablePrimitives, sodiumPrimitives]) {
      usePrimitives(p);
      // Written by receiptId as it was before it hashed from a kept buffer (main at b43c459).
      assert.equal(receiptId('dep_1', Date.UTC(2026, 0, 1)), 'rcp_cf60bf22a1158686427770d9', p.name);
    }
  } finally {
    usePrimitives(before);
  }
});

test('property: receiptId equals the id as it was computed before, on both primitives, for any deployment text (astral, long: the buffer grows) and period', () => {
  const before = cryptoPrimitives();
  try {
    for (const p of [portablePrimitives, sodiumPrimitives]) {
      usePrimitives(p);
      fc.assert(
        fc.property(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ minLength: 200, maxLength: 400 })), fc.nat(), (deployment, periodStartMs) => {
          assert.equal(receiptId(deployment, periodStartMs), idAsBefore(deployment, periodStartMs, portablePrimitives));
        }),
        { numRuns: 300 },
      );
    }
  } finally {
    usePrimitives(before);
  }
});
