// Public face of src/identity: keys, signatures, hashes, and the AgentPubKey and Mycelium codecs (sealed boxes: see below).
export * from './bytes.js';
export * from './kind-of.js';
export * from './error-message.js';
export * from './ed25519.js';
export * from './agent-pub-key.js';
export * from './mycelium-address.js';
export * from './canonical-json.js';
export * from './blake2b.js';
export * from './statement.js';
export * from './secure-file.js';
export * from './key-file.js';
export * from './primitives.js';
export * from './load-libsodium.js';
export * from './sealed-box-size.js';
// Not re-exported here, because importing them loads libsodium (~14 MiB resident) into every process
// that imports this index, the farmer agent included: sealed boxes and the ed25519 -> X25519 maps.
// Import them from './sealed-box.js' and './ed25519-x25519.js' where they are needed.
