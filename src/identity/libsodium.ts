// libsodium-wrappers, initialised: importing this module loads its WebAssembly heap (~14 MiB resident), so only what needs libsodium imports it.
import sodium from 'libsodium-wrappers';
import type { CryptoPrimitives } from './primitives.js';

await sodium.ready;

export { sodium };

/**
 * The part of libsodium's Emscripten module (libsodium-wrappers exposes it as `libsodium`) that
 * blake2bHex calls directly: the wasm heap, its allocator and crypto_generichash with the
 * message length as two 32-bit halves, as libsodium-wrappers' own crypto_generichash calls it.
 * The version is pinned; the known answers (test/identity/primitives.test.ts) check the call.
 */
interface SodiumModule {
  readonly HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  _crypto_generichash(out: number, outBytes: number, message: number, lengthLow: number, lengthHigh: number, key: number, keyBytes: number): number;
}
const wasm = (sodium as unknown as { libsodium: SodiumModule }).libsodium;

/**
 * One input region and one 32-byte output region in libsodium's heap, kept for the process:
 * the wrapper's crypto_generichash mallocs, copies and frees both per call and copies the digest
 * out into a fresh array, which was more than half of a heartbeat's hash (2.2 µs against 0.85 µs
 * for ~270 bytes, hashbench in the hbcpu notes).
 */
let inPointer = 0;
let inCapacity = 0;
/** Room for BLAKE2b's longest output (64 bytes). */
const outPointer = wasm._malloc(64);
/** A Buffer over the output region, made again when the heap grows (growing replaces the heap's ArrayBuffer). */
let outView = Buffer.from(wasm.HEAPU8.buffer, outPointer, 64);

function blake2bHexInHeap(message: Uint8Array, length: number, outputBytes: number): string {
  if (length > inCapacity) {
    if (inPointer !== 0) wasm._free(inPointer);
    inCapacity = Math.max(length, 4096);
    inPointer = wasm._malloc(inCapacity);
    if (inPointer === 0) throw new Error('blake2b: libsodium could not allocate its input buffer');
  }
  // Read HEAPU8 on every call: any libsodium call may have grown the heap since the last one.
  wasm.HEAPU8.set(length === message.length ? message : message.subarray(0, length), inPointer);
  if (wasm._crypto_generichash(outPointer, outputBytes, inPointer, length, 0, 0, 0) !== 0) throw new Error('blake2b: crypto_generichash failed');
  if (outView.buffer !== wasm.HEAPU8.buffer) outView = Buffer.from(wasm.HEAPU8.buffer, outPointer, 64);
  return outView.toString('hex', 0, outputBytes);
}

/** The primitives on libsodium: the gateway's hot paths (verifying many agents' and customers' keys, hashing receipts). */
export const sodiumPrimitives: CryptoPrimitives = {
  name: 'libsodium',
  seedKeyPair(seed) {
    const kp = sodium.crypto_sign_seed_keypair(seed);
    return { publicKey: kp.publicKey, secretKey: kp.privateKey };
  },
  signDetached(message, secretKey) {
    return sodium.crypto_sign_detached(message, secretKey);
  },
  verifyDetached(signature, message, publicKey) {
    return sodium.crypto_sign_verify_detached(signature, message, publicKey);
  },
  blake2b(message, outputBytes) {
    return sodium.crypto_generichash(outputBytes, message, null);
  },
  blake2bChained(prefix, message, outputBytes) {
    const state = sodium.crypto_generichash_init(null, outputBytes);
    sodium.crypto_generichash_update(state, prefix);
    sodium.crypto_generichash_update(state, message);
    return sodium.crypto_generichash_final(state, outputBytes);
  },
  blake2bHex: blake2bHexInHeap,
};
