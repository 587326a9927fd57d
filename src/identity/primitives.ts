// The ed25519 and BLAKE2b primitives behind src/identity, and which implementation is in use: portable by default, libsodium once a process asks for it.
import { portablePrimitives } from './portable-primitives.js';

/**
 * The few primitives whose implementation a process chooses. Both implementations give the
 * same bytes (test/identity/primitives.test.ts checks them against RFC 8032 and RFC 7693 and
 * against each other); they differ in speed and in what loading them costs.
 */
export interface CryptoPrimitives {
  /** `portable` (node:crypto and @noble/hashes) or `libsodium` (libsodium-wrappers, WebAssembly). */
  readonly name: 'portable' | 'libsodium';
  /** The ed25519 key pair of a 32-byte seed; the secret key is libsodium's 64-byte form, seed || public key. */
  seedKeyPair(seed: Uint8Array): { publicKey: Uint8Array; secretKey: Uint8Array };
  /** A detached ed25519 signature (RFC 8032 section 5.1.6) with a 64-byte secret key. */
  signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  /** Whether a detached ed25519 signature holds; may throw for a key that is not a point (callers map that to false). */
  verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /** BLAKE2b with an output of 16 to 64 bytes, unkeyed (RFC 7693). */
  blake2b(message: Uint8Array, outputBytes: number): Uint8Array;
  /** BLAKE2b of `prefix` then `message` without concatenating them first. */
  blake2bChained(prefix: Uint8Array, message: Uint8Array, outputBytes: number): Uint8Array;
  /**
   * BLAKE2b with a 16- to 64-byte output of the first `length` bytes of `message`, as lower-case
   * hex, with no output array in between: a hash chain's step (one per heartbeat at the gateway)
   * and a receipt's id and body hash (one each per receipt of a close).
   */
  blake2bHex(message: Uint8Array, length: number, outputBytes: number): string;
}

let current: CryptoPrimitives = portablePrimitives;

/** The primitives this process uses now. */
export function cryptoPrimitives(): CryptoPrimitives {
  return current;
}

/**
 * Switches the process to `primitives`. Only `loadLibsodium` (the gateway, the benches) and the
 * tests that compare the two implementations call it.
 */
export function usePrimitives(primitives: CryptoPrimitives): void {
  current = primitives;
}
