// One close's hashing: each receipt body's blake2b-256 and the close's Merkle tree over them, body by body in issue order (in the close hasher's worker, or in the thread when there is none).
import { blake2b } from '../../identity/index.js';
import { MerkleFrontier } from '../../protocol/merkle-frontier.js';

/** A receipt hash's bytes. */
export const HASH_BYTES = 32;

/**
 * Each body's blake2b-256, and the same root as merkleRootOfLeafHashes(leafHashesOfItems(all
 * hashes, 32)): the receipts' leaves are the leaves of their hashes, in issue order.
 */
export class CloseHashing {
  private readonly frontier = new MerkleFrontier(HASH_BYTES);

  /**
   * Hashes the next bodies: body k lies in `data` from `ends[k - 1]` (`from` for the first) to
   * `ends[k]`. Answers their hashes back to back; their leaves join the tree.
   */
  hashBodies(data: Uint8Array, from: number, ends: ArrayLike<number>): Uint8Array {
    const out = new Uint8Array(ends.length * HASH_BYTES);
    let start = from;
    for (let k = 0; k < ends.length; k++) {
      const end = ends[k] as number;
      if (!(start <= end && end <= data.length)) throw new RangeError(`body ${k} of a hash job lies outside its data (${start} to ${end} of ${data.length})`);
      out.set(blake2b(data.subarray(start, end), HASH_BYTES), k * HASH_BYTES);
      this.frontier.add(out, k * HASH_BYTES);
      start = end;
    }
    return out;
  }

  /** The root of the tree over every body hashed so far. */
  root(): Uint8Array {
    return this.frontier.root();
  }
}
