// The size a sealed box adds to its message, in a module of its own so checking sizes does not load libsodium.

/** Bytes a sealed box (crypto_box_seal) adds to its message: an ephemeral X25519 key (32) and a MAC (16). */
export const SEAL_OVERHEAD_BYTES = 48;
