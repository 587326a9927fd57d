// ed25519 on node:crypto (OpenSSL) and BLAKE2b on @noble/hashes: what a process uses when it has not loaded libsodium (the farmer agent).
import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { blake2b as nobleBlake2b } from '@noble/hashes/blake2.js';
import type { CryptoPrimitives } from './primitives.js';

/** PKCS#8 DER header of an ed25519 private key (RFC 8410 section 7), followed by the 32-byte seed. */
export const PKCS8_ED25519_PREFIX = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20);
/** SubjectPublicKeyInfo DER header of an ed25519 public key (RFC 8410 section 4), followed by the 32-byte key. */
const SPKI_ED25519_PREFIX = Uint8Array.of(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00);

/** node:crypto's key object of a 32-byte ed25519 seed. */
export function ed25519PrivateKeyObject(seed: Uint8Array): KeyObject {
  const der = Buffer.alloc(PKCS8_ED25519_PREFIX.length + 32);
  der.set(PKCS8_ED25519_PREFIX);
  der.set(seed.subarray(0, 32), PKCS8_ED25519_PREFIX.length);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const der = Buffer.alloc(SPKI_ED25519_PREFIX.length + 32);
  der.set(SPKI_ED25519_PREFIX);
  der.set(publicKey, SPKI_ED25519_PREFIX.length);
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

/** BLAKE2b of the first `length` bytes as hex, on @noble/hashes. */
function nobleBlake2bHex(message: Uint8Array, length: number, outputBytes: number): string {
  const digest = nobleBlake2b(message.subarray(0, length), { dkLen: outputBytes });
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('hex');
}

/**
 * The portable primitives. Slower than libsodium where it counts for the gateway (verifying many
 * keys: a key object per call, bench/verify; BLAKE2b of a 1 KiB receipt ~10× slower), but they
 * load no WebAssembly heap: ~14 MiB less resident memory for an agent that signs and hashes a few
 * statements an hour. Signatures are the same bytes (ed25519 is deterministic).
 */
export const portablePrimitives: CryptoPrimitives = {
  name: 'portable',
  seedKeyPair(seed) {
    const spki = createPublicKey(ed25519PrivateKeyObject(seed)).export({ format: 'der', type: 'spki' });
    const publicKey = new Uint8Array(spki.subarray(spki.length - 32));
    const secretKey = new Uint8Array(64);
    secretKey.set(seed.subarray(0, 32));
    secretKey.set(publicKey, 32);
    return { publicKey, secretKey };
  },
  signDetached(message, secretKey) {
    return new Uint8Array(cryptoSign(null, message, ed25519PrivateKeyObject(secretKey)));
  },
  verifyDetached(signature, message, publicKey) {
    return cryptoVerify(null, message, publicKeyObject(publicKey), signature);
  },
  blake2b(message, outputBytes) {
    return nobleBlake2b(message, { dkLen: outputBytes });
  },
  blake2bChained(prefix, message, outputBytes) {
    return nobleBlake2b.create({ dkLen: outputBytes }).update(prefix).update(message).digest();
  },
  blake2bHex: nobleBlake2bHex,
};
