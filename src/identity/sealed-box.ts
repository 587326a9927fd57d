// Sealed boxes (libsodium crypto_box_seal) addressed to an AgentPubKey through its X25519 form; importing this module loads libsodium.
import { decodeAgentPubKey } from './agent-pub-key.js';
import { ensureBytes } from './bytes.js';
import { ed25519PublicKeyToX25519, ed25519SecretKeyToX25519 } from './ed25519-x25519.js';
import { sodium } from './libsodium.js';
import { SEAL_OVERHEAD_BYTES } from './sealed-box-size.js';

export { SEAL_OVERHEAD_BYTES };

/** A sealed box that could not be opened: wrong recipient, or a changed byte. */
export class SealedBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealedBoxError';
  }
}

/**
 * Encrypts `message` so that only the holder of `recipient`'s secret key can read it.
 * `recipient` is an AgentPubKey string or a 32-byte ed25519 public key. Anonymous: the box
 * does not say who sealed it.
 */
export function seal(recipient: string | Uint8Array, message: Uint8Array): Uint8Array {
  const edKey = typeof recipient === 'string' ? decodeAgentPubKey(recipient) : ensureBytes('recipient', recipient, 32);
  ensureBytes('message', message);
  return sodium.crypto_box_seal(message, ed25519PublicKeyToX25519(edKey));
}

/** Opens a sealed box with the recipient's ed25519 key pair; SealedBoxError if it cannot. */
export function openSealed(keys: { publicKey: Uint8Array; secretKey: Uint8Array }, box: Uint8Array): Uint8Array {
  ensureBytes('box', box);
  if (box.length < SEAL_OVERHEAD_BYTES) throw new SealedBoxError(`box is ${box.length} bytes, shorter than a sealed box can be`);
  try {
    return sodium.crypto_box_seal_open(box, ed25519PublicKeyToX25519(keys.publicKey), ed25519SecretKeyToX25519(keys.secretKey));
  } catch {
    throw new SealedBoxError('cannot open the box: it was sealed for another key, or it was changed');
  }
}
