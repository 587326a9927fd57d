// A Merkle tree's root built leaf by leaf as the leaves come, keeping only the roots of its full subtrees (at most one per level), not the tree.
import { blake2bMerkleHasher, type MerkleHasher } from './merkle.js';

/**
 * Items are added in leaf order; each becomes a leaf, HASH(0x00 || item), and equal-height full
 * subtrees are joined as soon as both exist, HASH(0x01 || left || right). root() folds what is left
 * from the right, which is the RFC 9162 root (MTH, split at the largest power of two below n): the
 * same as merkleRootOfLeafHashes over all the leaves at once (test/protocol/merkle-frontier.test.ts).
 * A close's tree is built this way while its receipts are issued, so none of it waits for the end.
 */
export class MerkleFrontier {
  /**
   * Roots of the full subtrees so far, highest first: one for each 1 bit of the leaf count, the
   * lowest bit's last (so the count alone says which of them a new leaf joins).
   */
  private readonly roots: Uint8Array[] = [];
  private readonly leafMessage: Uint8Array;
  private readonly nodeMessage: Uint8Array;
  private count = 0;

  /** `itemBytes`: the size of each item (a receipt's hash: 32). */
  constructor(
    private readonly itemBytes: number,
    private readonly hasher: MerkleHasher = blake2bMerkleHasher,
  ) {
    if (!Number.isSafeInteger(itemBytes) || itemBytes <= 0) throw new RangeError('itemBytes must be a positive integer');
    this.leafMessage = new Uint8Array(1 + itemBytes);
    this.leafMessage[0] = 0x00;
    this.nodeMessage = new Uint8Array(1 + 2 * hasher.size);
    this.nodeMessage[0] = 0x01;
  }

  /** Leaves added. */
  get size(): number {
    return this.count;
  }

  /** Adds the next leaf: `items` holds `itemBytes` bytes at `offset`. */
  add(items: Uint8Array, offset = 0): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + this.itemBytes > items.length) throw new RangeError(`an item needs ${this.itemBytes} bytes at offset ${offset}`);
    this.leafMessage.set(items.subarray(offset, offset + this.itemBytes), 1);
    this.addLeafHash(this.prefixed(this.leafMessage));
  }

  /** Adds the next leaf by its leaf hash (already HASH(0x00 || data)). */
  addLeafHash(leafHash: Uint8Array): void {
    if (leafHash.length !== this.hasher.size) throw new RangeError(`a leaf hash is ${this.hasher.size} bytes`);
    let hash = leafHash;
    // Each trailing 1 bit of the count is a full subtree as high as the one the new leaf has grown into: they join.
    for (let n = this.count; n % 2 === 1; n = (n - 1) / 2) hash = this.node(this.roots.pop() as Uint8Array, hash);
    this.roots.push(hash);
    this.count++;
  }

  /** The root of the leaves added so far (HASH("") for none). */
  root(): Uint8Array {
    if (this.roots.length === 0) return this.hasher.empty();
    let hash = this.roots[this.roots.length - 1] as Uint8Array;
    for (let k = this.roots.length - 2; k >= 0; k--) hash = this.node(this.roots[k] as Uint8Array, hash);
    return hash;
  }

  private node(left: Uint8Array, right: Uint8Array): Uint8Array {
    if (!this.hasher.prefixed) return this.hasher.node(left, right);
    this.nodeMessage.set(left, 1);
    this.nodeMessage.set(right, 1 + this.hasher.size);
    return this.hasher.prefixed(this.nodeMessage);
  }

  private prefixed(message: Uint8Array): Uint8Array {
    return this.hasher.prefixed ? this.hasher.prefixed(message) : this.hasher.leaf(message.subarray(1));
  }
}
