// ReceiptBodyText: the receipt body's canonical JSON from cached pieces is byte-identical to canonicalJson, for any body, on a cache hit, after a field changes, and written straight into a close's buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CanonicalJsonError, canonicalJson } from '../../src/identity/index.js';
import { ReceiptBodyText } from '../../src/gateway/billing/receipt-body-text.js';
import { IssuedBodies } from '../../src/gateway/billing/issued-bodies.js';
import { allHashesHex, hashHere } from '../helpers/close-hashing.js';
import { ByteCursor } from '../../src/gateway/billing/byte-cursor.js';
import type { ReceiptAgentHead, ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { v2Body } from '../helpers/receipts.js';

/** Any text, including characters JSON escapes (quotes, backslashes, controls) and astral ones. */
const text = fc.string({ unit: 'binary', maxLength: 24 });
const head: fc.Arbitrary<ReceiptAgentHead | null> = fc.option(
  fc.record({ periodStartMs: fc.nat(), periodEndMs: fc.nat(), seq: fc.nat(), head: text, signature: text }),
  { nil: null },
);
const body: fc.Arbitrary<ReceiptBodyV2> = fc
  .record({
    id: text, deployment: text, customer: text, farmer: text, node: text, offer: text, periodStart: text, periodEnd: text,
    upSeconds: fc.nat(), pricePerHour: text, amount: text, farmerShare: text, fee: text, unit: text,
    prev: fc.option(text, { nil: null }), gateway: text, issuedAt: text, final: fc.boolean(), agentHead: head,
  })
  .map((f) => ({ ...v2Body(), ...f }));

/** canonicalJson's answer, or the error class it throws. */
function expected(b: ReceiptBodyV2): string | typeof CanonicalJsonError {
  try {
    return canonicalJson(b);
  } catch (err) {
    assert.ok(err instanceof CanonicalJsonError);
    return CanonicalJsonError;
  }
}

/** What `writer` writes for `b`, as text. */
function textOf(writer: ReceiptBodyText, owner: object, b: ReceiptBodyV2): string {
  const out = new ByteCursor(1024);
  writer.write(owner, b, out);
  return out.data.toString('utf8', 0, out.at);
}

function actual(writer: ReceiptBodyText, owner: object, b: ReceiptBodyV2): string | typeof CanonicalJsonError {
  try {
    return textOf(writer, owner, b);
  } catch (err) {
    assert.ok(err instanceof CanonicalJsonError, String(err));
    return CanonicalJsonError;
  }
}

test('property: the same bytes as canonicalJson for any body, the first time and from the cache', () => {
  const writer = new ReceiptBodyText();
  fc.assert(
    fc.property(body, body, (first, second) => {
      const owner = {};
      assert.equal(actual(writer, owner, first), expected(first));
      assert.equal(actual(writer, owner, first), expected(first), 'again, from cached pieces');
      // The same record object with another body (fields changed): never the stale pieces.
      assert.equal(actual(writer, owner, second), expected(second));
    }),
    { numRuns: 500 },
  );
});

test('a later period of the same deployment reuses its pieces and still matches; a disputed body and a lone surrogate are handled as canonicalJson does', () => {
  const writer = new ReceiptBodyText();
  const owner = {};
  const p1 = v2Body({ deployment: 'dep_a' });
  const p2 = v2Body({ deployment: 'dep_a', startMs: Date.parse(p1.periodEnd), prev: 'ab'.repeat(32), upSeconds: 12 });
  assert.equal(textOf(writer, owner, p1), canonicalJson(p1));
  assert.equal(textOf(writer, owner, p2), canonicalJson(p2));
  const disputed: ReceiptBodyV2 = { ...p2, dispute: { agentUpSeconds: 3600, gatewayUpSeconds: 12 } };
  assert.equal(textOf(writer, owner, disputed), canonicalJson(disputed));
  assert.throws(() => textOf(writer, {}, { ...p1, node: 'n\ud800' }), CanonicalJsonError);
});

test('property: a body written straight into IssuedBodies (addWritten) is the UTF-8 of canonicalJson with the same hash as one added as text, next to bodies added as text, past the buffer\'s first size', () => {
  const writer = new ReceiptBodyText();
  fc.assert(
    fc.property(fc.array(fc.tuple(body, fc.boolean()), { minLength: 1, maxLength: 8 }), (rows) => {
      const written = new IssuedBodies(0);
      const asText = new IssuedBodies(0);
      const kept: Buffer[] = [];
      for (const [b, direct] of rows) {
        const json = expected(b);
        if (typeof json !== 'string') {
          const before = written.count;
          assert.throws(() => written.addWritten(writer, {}, b), CanonicalJsonError);
          assert.equal(written.count, before, 'a body that cannot be written adds nothing');
          continue;
        }
        const index = direct ? written.addWritten(writer, {}, b) : written.add(json);
        assert.equal(index, asText.add(json));
        hashHere(written);
        hashHere(asText);
        assert.equal(written.hashHex(index), asText.hashHex(index));
        kept.push(Buffer.from(json, 'utf8'));
      }
      assert.equal(written.count, kept.length);
      kept.forEach((bytes, i) => assert.ok(written.body(i).equals(bytes), `body ${i}`));
      assert.equal(allHashesHex(written), allHashesHex(asText));
    }),
    { numRuns: 300 },
  );
});

test('property: with slabs smaller than a deployment\'s pieces and many deployments, every body, first written and from the cache, matches canonicalJson', () => {
  fc.assert(
    fc.property(fc.array(body, { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 400 }), (bodies, slabBytes) => {
      const writer = new ReceiptBodyText(slabBytes);
      const owners = bodies.map(() => ({}));
      for (let round = 0; round < 2; round++) {
        bodies.forEach((b, i) => assert.equal(actual(writer, owners[i] as object, b), expected(b), `body ${i}, round ${round}`));
      }
    }),
    { numRuns: 300 },
  );
});

test('deployments whose shared fields split the same characters differently (node and offer, price, purpose and unit) each get their own pieces', () => {
  const writer = new ReceiptBodyText();
  const at = (deployment: string, fields: Partial<Record<'node' | 'offer' | 'pricePerHour' | 'purpose' | 'unit', string>>): ReceiptBodyV2 => ({ ...v2Body({ deployment }), ...fields }) as ReceiptBodyV2;
  const bodies = [
    at('dep_1', { node: 'a:1', offer: 'b' }),
    at('dep_2', { node: 'a', offer: ':1b' }),
    at('dep_3', { node: '1:a', offer: '' }),
    at('dep_4', { node: 'a\u0000', offer: 'b' }),
    at('dep_5', { node: 'a', offer: '\u0000b' }),
    at('dep_6', { pricePerHour: '1', purpose: '2', unit: '3' }),
    at('dep_7', { pricePerHour: '12', purpose: '', unit: '3' }),
    at('dep_8', { pricePerHour: '', purpose: '1', unit: '23' }),
  ];
  for (let round = 0; round < 2; round++) for (const b of bodies) assert.equal(textOf(writer, {}, b), canonicalJson(b), `${b.deployment}, round ${round}`);
});
