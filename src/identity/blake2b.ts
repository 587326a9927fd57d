// BLAKE2b (RFC 7693): the hash of hash chains, receipt links and log lines, on the process's primitives.
import { ensureBytes } from './bytes.js';
import { cryptoPrimitives } from './primitives.js';

/**
 * BLAKE2b with a 16- to 64-byte output. On libsodium (crypto_generichash, the gateway) about
 * 3 µs for a 1 KiB receipt against about 32 µs on @noble/hashes (the portable primitives, the
 * agent), measured in bench/billing; the bytes are the same.
 */
export function blake2b(message: Uint8Array, outputBytes: number): Uint8Array {
  ensureBytes('message', message);
  if (!Number.isInteger(outputBytes) || outputBytes < 16 || outputBytes > 64) throw new RangeError('outputBytes must be 16 to 64');
  return cryptoPrimitives().blake2b(message, outputBytes);
}

/**
 * BLAKE2b of `prefix` then `message`, without copying them into one buffer first (the
 * multi-part API): a hash chain links a previous hash to the next record this way.
 */
export function blake2bChained(prefix: Uint8Array, message: Uint8Array, outputBytes: number): Uint8Array {
  return cryptoPrimitives().blake2bChained(prefix, message, outputBytes);
}
