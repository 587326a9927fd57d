// Merkle trees (RFC 9162 hashing): known answers from transparency-dev/merkle, blake2b roots against a from-the-definition tree on @noble/hashes, and properties with fast-check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { blake2b as nobleBlake2b } from '@noble/hashes/blake2.js';
import { fromHex, toHex } from '../../src/identity/index.js';
import { blake2bMerkleHasher, leafHashesOfItems, MerkleTree, merkleRootOf, merkleRootOfLeafHashes, rootFromInclusionProof, verifyInclusion, type MerkleHasher } from '../../src/protocol/merkle.js';
import { readVectors } from '../helpers/paths.js';

interface Vectors {
  leafInputs: string[];
  leafHashes: string[];
  rootsBySize: string[];
  inclusionProofs: Array<{ index: number; size: number; proof: string[] }>;
}
const vectors = readVectors<Vectors>('merkle-rfc6962-sha256.json');

/** SHA-256 with RFC 9162's prefixes, the hash the transparency-dev vectors use. */
const sha256: MerkleHasher = {
  size: 32,
  leaf: (d) => new Uint8Array(createHash('sha256').update(Uint8Array.of(0)).update(d).digest()),
  node: (l, r) => new Uint8Array(createHash('sha256').update(Uint8Array.of(1)).update(l).update(r).digest()),
  empty: () => new Uint8Array(createHash('sha256').digest()),
};

const hex = (s: string): Uint8Array => fromHex('vector', s);

test('known answers (transparency-dev/merkle, SHA-256): leaf hashes, the root of every size 0-8, inclusion proofs', () => {
  assert.equal(vectors.leafInputs.length, 8, 'the vectors file was read');
  const leaves = vectors.leafInputs.map(hex);
  leaves.forEach((l, i) => assert.equal(toHex(sha256.leaf(l)), vectors.leafHashes[i]));
  for (let size = 0; size <= 8; size++) assert.equal(toHex(merkleRootOf(leaves.slice(0, size), sha256)), vectors.rootsBySize[size], `root of ${size}`);
  for (const v of vectors.inclusionProofs) {
    const tree = MerkleTree.fromLeafHashes(leaves.slice(0, v.size).map((l) => sha256.leaf(l)), sha256);
    assert.deepEqual(tree.inclusionProof(v.index).map(toHex), v.proof, `proof of ${v.index} in ${v.size}`);
    assert.ok(verifyInclusion(sha256.leaf(leaves[v.index] as Uint8Array), v.index, v.size, v.proof.map(hex), hex(vectors.rootsBySize[v.size] as string), sha256));
  }
});

/** MTH exactly as RFC 9162 section 2.1.1 defines it (split at the largest power of two below n), on @noble/hashes' BLAKE2b. */
function referenceRoot(leaves: readonly Uint8Array[]): Uint8Array {
  const h = (...parts: Uint8Array[]): Uint8Array => nobleBlake2b(Uint8Array.from(parts.flatMap((p) => [...p])), { dkLen: 32 });
  if (leaves.length === 0) return h();
  if (leaves.length === 1) return h(Uint8Array.of(0), leaves[0] as Uint8Array);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return h(Uint8Array.of(1), referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

test('blake2b trees: the root equals RFC 9162 MTH computed from its definition on an independent BLAKE2b (@noble/hashes)', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 70 }), (leaves) => {
      assert.equal(toHex(merkleRootOf(leaves, blake2bMerkleHasher)), toHex(referenceRoot(leaves)));
    }),
    { numRuns: 150 },
  );
});

test('flat buffers: leafHashesOfItems and merkleRootOfLeafHashes give the leaves and root of the reference tree, on both hashers', () => {
  for (let size = 0; size <= 8; size++) {
    const items = Uint8Array.from(vectors.leafInputs.slice(0, size).flatMap((l) => [...hex(l)].concat(new Array<number>(Math.max(0, 8 - hex(l).length)).fill(0)).slice(0, 8)));
    const leaves = Array.from({ length: size }, (_, i) => items.subarray(i * 8, (i + 1) * 8));
    // SHA-256 has no `prefixed`: the fallback path; its known roots for the vector leaves come from the same definition.
    assert.equal(toHex(merkleRootOfLeafHashes(leafHashesOfItems(items, 8, sha256), sha256)), toHex(merkleRootOf(leaves, sha256)), `sha256 root of ${size}`);
  }
  assert.equal(toHex(merkleRootOfLeafHashes(new Uint8Array(0), sha256)), vectors.rootsBySize[0]);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 140 }), fc.integer(), (itemBytes, count, seed) => {
      const items = Uint8Array.from({ length: itemBytes * count }, (_, i) => (i * 31 + seed) & 0xff);
      const leaves = Array.from({ length: count }, (_, i) => items.subarray(i * itemBytes, (i + 1) * itemBytes));
      const flat = leafHashesOfItems(items, itemBytes);
      assert.equal(toHex(flat), leaves.map((l) => toHex(blake2bMerkleHasher.leaf(l))).join(''));
      assert.equal(toHex(merkleRootOfLeafHashes(flat)), toHex(referenceRoot(leaves)));
      // The leaf hashes handed in are not changed by the fold.
      assert.equal(toHex(flat), leaves.map((l) => toHex(blake2bMerkleHasher.leaf(l))).join(''));
    }),
    { numRuns: 120 },
  );
  assert.throws(() => merkleRootOfLeafHashes(new Uint8Array(33)), RangeError);
  assert.throws(() => leafHashesOfItems(new Uint8Array(10), 3), RangeError);
});

test('property: every leaf of every tree has a proof that verifies against the root', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), (size, pick) => {
      const leaves = Array.from({ length: size }, (_, i) => blake2bMerkleHasher.leaf(Uint8Array.of(i & 255, i >> 8)));
      const tree = MerkleTree.fromLeafHashes(leaves);
      const index = pick % size;
      assert.ok(verifyInclusion(tree.leafHash(index), index, size, tree.inclusionProof(index), tree.root()));
    }),
    { numRuns: 300 },
  );
});

// The size is not bound by a proof alone (the proof of leaf 0 in 17 leaves also leads to a root for 18), which is why
// the signed tree head carries it; receipt.test.ts flips bits of a signed head.
test('property: any one-bit change to the leaf, a proof hash or the root, or another index, fails', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 200 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), fc.constantFrom('leaf', 'proof', 'root', 'index'), (size, pick, where, bit, what) => {
      const leaves = Array.from({ length: size }, (_, i) => blake2bMerkleHasher.leaf(Uint8Array.of(i & 255, i >> 8, 7)));
      const tree = MerkleTree.fromLeafHashes(leaves);
      const index = pick % size;
      const leaf = tree.leafHash(index);
      const proof = tree.inclusionProof(index);
      const root = tree.root();
      const flip = (b: Uint8Array): Uint8Array => {
        const c = b.slice();
        c[where % c.length] = (c[where % c.length] as number) ^ (1 << bit);
        return c;
      };
      if (what === 'leaf') assert.equal(verifyInclusion(flip(leaf), index, size, proof, root), false);
      if (what === 'root') assert.equal(verifyInclusion(leaf, index, size, proof, flip(root)), false);
      if (what === 'proof') {
        const j = where % proof.length;
        assert.equal(verifyInclusion(leaf, index, size, proof.map((p, k) => (k === j ? flip(p) : p)), root), false);
      }
      if (what === 'index') assert.equal(verifyInclusion(leaf, index ^ (1 << (bit % 3)), size, proof, root), false);
    }),
    { numRuns: 500 },
  );
});

test('a proof of the wrong length, or an index outside the tree, leads to no root', () => {
  const tree = MerkleTree.fromLeafHashes([1, 2, 3, 4, 5].map((i) => blake2bMerkleHasher.leaf(Uint8Array.of(i))));
  const proof = tree.inclusionProof(2);
  assert.equal(rootFromInclusionProof(tree.leafHash(2), 2, 5, proof.slice(1)), null);
  assert.equal(rootFromInclusionProof(tree.leafHash(2), 2, 5, [...proof, proof[0] as Uint8Array]), null);
  assert.equal(rootFromInclusionProof(tree.leafHash(2), 5, 5, proof), null);
  assert.equal(rootFromInclusionProof(tree.leafHash(2), -1, 5, proof), null);
  assert.throws(() => tree.inclusionProof(5), RangeError);
});
