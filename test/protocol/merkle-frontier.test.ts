// MerkleFrontier: a root built leaf by leaf equals the RFC 9162 root of all the leaves at once (known answers from transparency-dev/merkle on SHA-256; merkleRootOfLeafHashes and the from-the-definition tree on BLAKE2b), at every size on the way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { fromHex, toHex } from '../../src/identity/index.js';
import { blake2bMerkleHasher, leafHashesOfItems, merkleRootOf, merkleRootOfLeafHashes, type MerkleHasher } from '../../src/protocol/merkle.js';
import { MerkleFrontier } from '../../src/protocol/merkle-frontier.js';
import { readVectors } from '../helpers/paths.js';

const vectors = readVectors<{ leafInputs: string[]; rootsBySize: string[] }>('merkle-rfc6962-sha256.json');
const sha256: MerkleHasher = {
  size: 32,
  leaf: (d) => new Uint8Array(createHash('sha256').update(Uint8Array.of(0)).update(d).digest()),
  node: (l, r) => new Uint8Array(createHash('sha256').update(Uint8Array.of(1)).update(l).update(r).digest()),
  empty: () => new Uint8Array(createHash('sha256').digest()),
};

test('known answers (transparency-dev/merkle, SHA-256): the root after each of 0 to 8 leaves', () => {
  const frontier = new MerkleFrontier(32, sha256);
  assert.equal(toHex(frontier.root()), vectors.rootsBySize[0]);
  vectors.leafInputs.forEach((input, i) => {
    frontier.addLeafHash(sha256.leaf(fromHex('vector', input)));
    assert.equal(frontier.size, i + 1);
    assert.equal(toHex(frontier.root()), vectors.rootsBySize[i + 1], `root of ${i + 1}`);
  });
});

test('property: items added one by one give the root merkleRootOfLeafHashes gives for them all, and the tree of their leaves, at every size', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 40 }), fc.integer(), (count, itemBytes, seed) => {
      const items = Uint8Array.from({ length: count * itemBytes }, (_, i) => (seed + i * 31 + (i >> 3)) & 255);
      const frontier = new MerkleFrontier(itemBytes);
      const checkAt = new Set([0, 1, 2, 3, count >> 1, count - 1, count]);
      for (let n = 0; n <= count; n++) {
        if (checkAt.has(n)) assert.equal(toHex(frontier.root()), toHex(merkleRootOfLeafHashes(leafHashesOfItems(items.subarray(0, n * itemBytes), itemBytes))), `size ${n}`);
        if (n < count) frontier.add(items, n * itemBytes);
      }
      const leaves = Array.from({ length: count }, (_, i) => items.subarray(i * itemBytes, (i + 1) * itemBytes));
      assert.equal(toHex(frontier.root()), toHex(merkleRootOf(leaves, blake2bMerkleHasher)));
    }),
    { numRuns: 120 },
  );
});

test('an item that does not fit, or a leaf hash of the wrong size, is refused and adds nothing', () => {
  const frontier = new MerkleFrontier(32);
  assert.throws(() => frontier.add(new Uint8Array(40), 10), RangeError);
  assert.throws(() => frontier.addLeafHash(new Uint8Array(31)), RangeError);
  assert.equal(frontier.size, 0);
  assert.throws(() => new MerkleFrontier(0), RangeError);
});
