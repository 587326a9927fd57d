// The Unyt ledger adapter's public face: the adapter, its config and its errors.
export { UnytLedger, UnytStartError, type UnytBillingTerms, type UnytLedgerDeps } from './unyt-ledger.js';
export { parseUnytLedgerConfig, type UnytLedgerConfig } from './config.js';
export type { UnytAppClient, UnytAppClientFactory } from './connection.js';
export { LINK_TAG_CAP_BYTES, TagTooLargeError } from './parked-tag.js';
