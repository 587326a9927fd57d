// Public face of src/identity: keys, signatures, sealed boxes, and the AgentPubKey and Mycelium codecs.
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
export * from './sealed-box.js';
