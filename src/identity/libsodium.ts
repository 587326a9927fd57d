// libsodium-wrappers, initialised: importing this module loads its WebAssembly heap (~14 MiB resident), so only what needs libsodium imports it.
import sodium from 'libsodium-wrappers';
import type { CryptoPrimitives } from './primitives.js';

await sodium.ready;

export { sodium };

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
};
