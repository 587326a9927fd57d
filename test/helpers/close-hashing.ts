// Hashes a close's bodies added since the last post, in this thread, as a small close is (CloseHasher's in-thread run).
import { CloseHasher } from '../../src/gateway/billing/close-hasher.js';
import type { IssuedBodies } from '../../src/gateway/billing/issued-bodies.js';

/** Never starts a worker: every close is "small". */
const inThread = new CloseHasher(Number.POSITIVE_INFINITY);

/** Hashes the bodies added since the last post into `bodies` (hashHex). */
export function hashHere(bodies: IssuedBodies): void {
  bodies.post(inThread.begin(0, (first, hashes) => bodies.setHashes(first, hashes)));
}

/** Every body's hash, as hex, back to back in the order added. */
export function allHashesHex(bodies: IssuedBodies): string {
  return Array.from({ length: bodies.count }, (_, i) => bodies.hashHex(i)).join('');
}
