// Merkle trees with RFC 9162 (Certificate Transparency v2) hashing: roots, inclusion proofs and their verification, over any hash.
import { blake2b, blake2bChained, bytesEqual } from '../identity/index.js';

/**
 * The two hashes of RFC 9162 section 2.1.1: a leaf is HASH(0x00 || data), an interior node
 * HASH(0x01 || left || right); `empty` is the root of a tree with no leaves, HASH("").
 */
export interface MerkleHasher {
  /** Output size in bytes. */
  readonly size: number;
  leaf(data: Uint8Array): Uint8Array;
  node(left: Uint8Array, right: Uint8Array): Uint8Array;
  empty(): Uint8Array;
  /**
   * Optional: HASH(bytes) of a message that already carries its prefix (0x00 || data for a leaf,
   * 0x01 || left || right for a node), so a whole level is hashed through one reused buffer.
   */
  prefixed?(message: Uint8Array): Uint8Array;
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/**
 * hypha's tree hash: BLAKE2b-256, the hash every other hypha chain uses (receipt `prev`,
 * heartbeat chains, log lines), so a receipt's leaf is built from the very hash its
 * successor's `prev` names, on the same fast libsodium path.
 */
export const blake2bMerkleHasher: MerkleHasher = {
  size: 32,
  leaf: (data) => blake2bChained(LEAF_PREFIX, data, 32),
  prefixed: (message) => blake2b(message, 32),
  node: (left, right) => {
    const buf = new Uint8Array(1 + left.length + right.length);
    buf[0] = 0x01;
    buf.set(left, 1);
    buf.set(right, 1 + left.length);
    return blake2b(buf, 32);
  },
  empty: () => blake2b(new Uint8Array(0), 32),
};

/** Exported for tests of other hashers: the prefix bytes RFC 9162 puts before leaves and nodes. */
export const MERKLE_PREFIXES = { leaf: LEAF_PREFIX, node: NODE_PREFIX } as const;

/**
 * A whole tree over leaf hashes, every level kept as one contiguous buffer (2n hashes in all),
 * so proofs for any leaf are read without hashing again. Levels are built bottom-up; a node
 * without a right sibling is carried up unchanged, which gives exactly RFC 9162's MTH (split
 * at the largest power of two below n).
 */
export class MerkleTree {
  private constructor(
    private readonly hasher: MerkleHasher,
    private readonly levels: Uint8Array[],
    readonly size: number,
  ) {}

  /** A tree over already-hashed leaves (each `hasher.leaf(data)`), in order. */
  static fromLeafHashes(leafHashes: readonly Uint8Array[], hasher: MerkleHasher = blake2bMerkleHasher): MerkleTree {
    const h = hasher.size;
    const first = new Uint8Array(leafHashes.length * h);
    leafHashes.forEach((leaf, i) => {
      if (leaf.length !== h) throw new RangeError(`leafHashes[${i}] must be ${h} bytes`);
      first.set(leaf, i * h);
    });
    const levels = [first];
    let count = leafHashes.length;
    while (count > 1) {
      const below = levels[levels.length - 1] as Uint8Array;
      const upCount = Math.ceil(count / 2);
      const up = new Uint8Array(upCount * h);
      for (let i = 0; i + 1 < count; i += 2) {
        up.set(hasher.node(below.subarray(i * h, (i + 1) * h), below.subarray((i + 1) * h, (i + 2) * h)), (i / 2) * h);
      }
      if (count % 2 === 1) up.set(below.subarray((count - 1) * h, count * h), (upCount - 1) * h);
      levels.push(up);
      count = upCount;
    }
    return new MerkleTree(hasher, levels, leafHashes.length);
  }

  /** The tree's root (MTH): the empty hash for no leaves. */
  root(): Uint8Array {
    if (this.size === 0) return this.hasher.empty();
    return (this.levels[this.levels.length - 1] as Uint8Array).slice(0, this.hasher.size);
  }

  /** The leaf hash at `index`. */
  leafHash(index: number): Uint8Array {
    this.checkIndex(index);
    const h = this.hasher.size;
    return (this.levels[0] as Uint8Array).slice(index * h, (index + 1) * h);
  }

  /** The inclusion proof of leaf `index` (RFC 9162 section 2.1.3.1), lowest sibling first. */
  inclusionProof(index: number): Uint8Array[] {
    this.checkIndex(index);
    const h = this.hasher.size;
    const proof: Uint8Array[] = [];
    let i = index;
    let count = this.size;
    for (let level = 0; count > 1; level++) {
      const sibling = i ^ 1;
      // A node without a right sibling is carried up as is: nothing to add to the proof.
      if (sibling < count) proof.push((this.levels[level] as Uint8Array).slice(sibling * h, (sibling + 1) * h));
      i >>= 1;
      count = Math.ceil(count / 2);
    }
    return proof;
  }

  private checkIndex(index: number): void {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) throw new RangeError(`index must be 0 to ${this.size - 1}`);
  }
}

/**
 * `hasher.leaf` of each `itemBytes`-byte item of `items` (back to back), as leaf hashes back to
 * back: one buffer for all, not an array per leaf (bench/billing: a 100k close's tree).
 */
export function leafHashesOfItems(items: Uint8Array, itemBytes: number, hasher: MerkleHasher = blake2bMerkleHasher): Uint8Array {
  if (!Number.isSafeInteger(itemBytes) || itemBytes <= 0 || items.length % itemBytes !== 0) throw new RangeError('items must be a whole number of itemBytes-byte items');
  const count = items.length / itemBytes;
  const h = hasher.size;
  const out = new Uint8Array(count * h);
  const message = new Uint8Array(1 + itemBytes);
  message[0] = LEAF_PREFIX[0] as number;
  for (let i = 0; i < count; i++) {
    const item = items.subarray(i * itemBytes, (i + 1) * itemBytes);
    if (hasher.prefixed) {
      message.set(item, 1);
      out.set(hasher.prefixed(message), i * h);
    } else {
      out.set(hasher.leaf(item), i * h);
    }
  }
  return out;
}

/**
 * The root (MTH) of leaf hashes given back to back (`hasher.size` bytes each), folded level by
 * level in one copy of them: the same root as MerkleTree.fromLeafHashes, without keeping the tree.
 */
export function merkleRootOfLeafHashes(leafHashes: Uint8Array, hasher: MerkleHasher = blake2bMerkleHasher): Uint8Array {
  const h = hasher.size;
  if (leafHashes.length % h !== 0) throw new RangeError(`leafHashes must be a whole number of ${h}-byte hashes`);
  let count = leafHashes.length / h;
  if (count === 0) return hasher.empty();
  const level = leafHashes.slice();
  const message = new Uint8Array(1 + 2 * h);
  message[0] = NODE_PREFIX[0] as number;
  while (count > 1) {
    // Node i of the level above overwrites hash i of this one: hashes 2i and 2i + 1 are read first.
    for (let i = 0; i + 1 < count; i += 2) {
      let up: Uint8Array;
      if (hasher.prefixed) {
        message.set(level.subarray(i * h, (i + 2) * h), 1);
        up = hasher.prefixed(message);
      } else {
        up = hasher.node(level.slice(i * h, (i + 1) * h), level.slice((i + 1) * h, (i + 2) * h));
      }
      level.set(up, (i / 2) * h);
    }
    // A node without a right sibling is carried up unchanged (RFC 9162: split at the largest power of two below n).
    if (count % 2 === 1) level.copyWithin(((count - 1) / 2) * h, (count - 1) * h, count * h);
    count = Math.ceil(count / 2);
  }
  return level.slice(0, h);
}

/** The root of leaves hashed with `hasher.leaf`, without keeping the tree. */
export function merkleRootOf(leafData: readonly Uint8Array[], hasher: MerkleHasher = blake2bMerkleHasher): Uint8Array {
  return MerkleTree.fromLeafHashes(leafData.map((d) => hasher.leaf(d)), hasher).root();
}

/**
 * The root an inclusion proof leads to (RFC 9162 section 2.1.3.2), or null when the proof
 * cannot belong to leaf `index` of a tree of `size` leaves (wrong length, index out of range).
 */
export function rootFromInclusionProof(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], hasher: MerkleHasher = blake2bMerkleHasher): Uint8Array | null {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = hasher.node(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = hasher.node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** Whether `proof` shows leaf `index` with hash `leafHash` in the tree of `size` leaves whose root is `root`. */
export function verifyInclusion(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array, hasher: MerkleHasher = blake2bMerkleHasher): boolean {
  const computed = rootFromInclusionProof(leafHash, index, size, proof, hasher);
  return computed !== null && bytesEqual(computed, root);
}
