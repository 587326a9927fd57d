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

/**
 * BLAKE2b-256 of the first `length` bytes of `message` (0 <= length <= its size), as lower-case
 * hex: the same as toHex(blake2b(message.subarray(0, length), 32)) without the intermediate
 * arrays, and on libsodium without its wrapper's per-call heap copies (one hash per heartbeat at
 * the gateway: bench/heartbeat-ingest).
 */
export function blake2b256Hex(message: Uint8Array, length: number): string {
  return blake2bHex(message, length, 32);
}

/**
 * BLAKE2b with a 16- to 64-byte output of the first `length` bytes of `message`, as lower-case hex:
 * toHex(blake2b(message.subarray(0, length), outputBytes)) without the intermediate arrays (on
 * libsodium, hashed in its heap: a receipt id per receipt of a close, bench/billing).
 */
export function blake2bHex(message: Uint8Array, length: number, outputBytes: number): string {
  ensureBytes('message', message);
  if (!Number.isInteger(length) || length < 0 || length > message.length) throw new RangeError(`length must be an integer from 0 to ${message.length}, got ${length}`);
  if (!Number.isInteger(outputBytes) || outputBytes < 16 || outputBytes > 64) throw new RangeError('outputBytes must be 16 to 64');
  return cryptoPrimitives().blake2bHex(message, length, outputBytes);
}
