// ByteCursor: pieces written at the cursor are the UTF-8 of their concatenation, whatever the characters, across growth of the buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteCursor } from '../../src/gateway/billing/byte-cursor.js';

const piece = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => ({ kind: 'utf8' as const, s })),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => ({ kind: 'ascii' as const, s })),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => ({ kind: 'plainQuoted' as const, s })),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => ({ kind: 'bytes' as const, s })),
);

test('property: any pieces, as text or bytes, ASCII or not, come out as the UTF-8 of their concatenation', () => {
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 20 }), fc.integer({ min: 0, max: 16 }), (pieces, size) => {
      const cursor = new ByteCursor(size);
      let text = '';
      for (const { kind, s } of pieces) {
        if (kind === 'bytes') cursor.bytes(Buffer.from(s, 'utf8'));
        else cursor[kind](s);
        text += kind === 'plainQuoted' ? `"${s}"` : s;
      }
      assert.equal(cursor.data.toString('utf8', 0, cursor.at), text);
      assert.equal(cursor.at, Buffer.byteLength(text, 'utf8'));
    }),
    { numRuns: 500 },
  );
});

test('ascii and plainQuoted fall back to UTF-8 at the first character above 0x7f, overwriting what they began', () => {
  const cursor = new ByteCursor(4);
  cursor.ascii('ab');
  cursor.ascii('cé☃');
  cursor.plainQuoted('nœud');
  assert.equal(cursor.data.toString('utf8', 0, cursor.at), 'abcé☃"nœud"');
});
