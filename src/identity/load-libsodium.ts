// Switches a process's ed25519 and BLAKE2b to libsodium, loading it on first use rather than at import.
import { usePrimitives } from './primitives.js';

/**
 * Loads libsodium and makes it the process's primitives (idempotent). The gateway calls it at
 * start: verifying many keys and hashing every receipt are its hot paths, where libsodium is
 * faster (bench/verify, bench/billing). The farmer agent never calls it.
 */
export async function loadLibsodium(): Promise<void> {
  const { sodiumPrimitives } = await import('./libsodium.js');
  usePrimitives(sodiumPrimitives);
}
