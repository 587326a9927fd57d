// The shared split and join of a bytes checkpoint (checkpoint-parts.ts; a part's `at` is its offset in the joined bytes): a round trip gives the bytes back, a part the store holds is not hashed again, and a missing or wrong-length part or malformed references give null.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { joinCheckpoint, partNames, splitCheckpoint, type KnownPart } from '../../src/gateway/billing/checkpoint-parts.js';
import type { CheckpointBytes } from '../../src/gateway/billing/money-store.js';

const chunk = (text: string): Uint8Array => Buffer.from(text, 'utf8');

/** Six chunks; [1, 3) and [4, 5) never change (as encodeCheckpointBytes marks a kept tree's leaves). */
const checkpoint: CheckpointBytes = {
  bytes: [chunk('head\n'), chunk('leaves-a1'), chunk('leaves-a2'), chunk('middle'), chunk('leaves-b'), chunk('tail')],
  unchanging: [
    { from: 1, to: 3, key: 'tree-1-a' },
    { from: 4, to: 5, key: 'tree-2-b' },
  ],
};

const nameOf = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 32);

test('split: the body keeps the changing chunks in order; each part is named by a hash of its bytes and placed where it was', () => {
  const { body, refs, parts } = splitCheckpoint(checkpoint, new Map());
  assert.equal(Buffer.concat(body).toString(), 'head\nmiddletail');
  assert.deepEqual(refs, [
    { at: 5, length: 18, name: nameOf('leaves-a1leaves-a2') },
    { at: 29, length: 8, name: nameOf('leaves-b') },
  ]);
  assert.deepEqual(
    parts.map((p) => [p.key, p.fresh, Buffer.concat(p.chunks).toString()]),
    [
      ['tree-1-a', true, 'leaves-a1leaves-a2'],
      ['tree-2-b', true, 'leaves-b'],
    ],
  );
  const bytes = new Map(parts.map((p) => [p.name, Buffer.concat(p.chunks)]));
  assert.equal(joinCheckpoint(Buffer.concat(body), refs, (n) => bytes.get(n) ?? null)?.toString(), Buffer.concat(checkpoint.bytes).toString(), 'the join gives the bytes back');
});

test('split: a part the store holds under its key (same length) is not fresh and keeps the name it was given, unhashed; another length is fresh again', () => {
  const known = new Map<string, KnownPart>([
    ['tree-1-a', { name: 'f'.repeat(32), length: 18 }],
    ['tree-2-b', { name: 'e'.repeat(32), length: 7 }],
  ]);
  const { parts } = splitCheckpoint(checkpoint, known);
  assert.deepEqual(
    parts.map((p) => [p.fresh, p.name]),
    [
      [false, 'f'.repeat(32)],
      [true, nameOf('leaves-b')],
    ],
  );
});

test('join: a missing part, a part of another length, or malformed references give null; no references give the body as it is', () => {
  const { body, refs, parts } = splitCheckpoint(checkpoint, new Map());
  const joined = Buffer.concat(body);
  const bytes = new Map(parts.map((p) => [p.name, Buffer.concat(p.chunks)]));
  assert.equal(joinCheckpoint(joined, refs, (n) => (n === refs[1]?.name ? null : (bytes.get(n) ?? null))), null);
  assert.equal(joinCheckpoint(joined, refs, (n) => Buffer.concat([bytes.get(n) ?? Buffer.alloc(0), Buffer.from('x')])), null);
  for (const bad of [{}, [{ at: 5, length: 18, name: 'not-hex' }], [{ at: -1, length: 18, name: nameOf('x') }], [{ at: 99, length: 1, name: nameOf('x') }], 'refs']) {
    assert.equal(joinCheckpoint(joined, bad, (n) => bytes.get(n) ?? null), null, JSON.stringify(bad));
  }
  assert.equal(joinCheckpoint(joined, undefined, () => null), joined);
  assert.deepEqual(partNames(refs), [refs[0]?.name, refs[1]?.name]);
  assert.equal(partNames([{ at: 0, length: 1 }]), null);
});
