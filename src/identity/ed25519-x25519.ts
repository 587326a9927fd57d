// The X25519 forms of ed25519 keys (for sealed boxes), on libsodium: importing this module loads libsodium.
import { ensureBytes } from './bytes.js';
import { sodium } from './libsodium.js';
import { PUBLIC_KEY_BYTES, SECRET_KEY_BYTES } from './ed25519.js';

/** The X25519 public key of an ed25519 public key (birational map, RFC 7748 section 4.1). */
export function ed25519PublicKeyToX25519(publicKey: Uint8Array): Uint8Array {
  ensureBytes('publicKey', publicKey, PUBLIC_KEY_BYTES);
  try {
    return sodium.crypto_sign_ed25519_pk_to_curve25519(publicKey);
  } catch {
    throw new RangeError('publicKey is not a valid ed25519 point');
  }
}

/** The X25519 secret key of an ed25519 secret key. */
export function ed25519SecretKeyToX25519(secretKey: Uint8Array): Uint8Array {
  ensureBytes('secretKey', secretKey, SECRET_KEY_BYTES);
  return sodium.crypto_sign_ed25519_sk_to_curve25519(secretKey);
}
