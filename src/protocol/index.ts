// Public face of src/protocol: the wire types and validators the gateway and the agent share.
export * from './validate.js';
export * from './money.js';
export * from './offer.js';
export * from './ssh-key.js';
export * from './charge.js';
export * from './uptime.js';
export * from './heartbeat.js';
export * from './receipt.js';
export * from './agent-messages.js';
export * from './heartbeat-frame.js';
export * from './clock.js';
export * from './probe.js';
export * from './mycelium-local.js';
export * from './link-statement.js';
export * from './merkle.js';
export * from './tree-head.js';
export * from './farmer-batch.js';
export * from './bid.js';
// Not logger.js: it loads pino, which the farmer agent (it imports this index) does without; import it from './logger.js'.
