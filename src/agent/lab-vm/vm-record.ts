// One lab VM as the driver persists it, and the checks of its id and seed.
import { VmDriverError } from '../vm-driver.js';

/** One VM as persisted in the state file. */
export interface VmRecord {
  readonly id: string;
  readonly seedHex: string;
  readonly myceliumIp: string;
  readonly state: 'running' | 'paused';
  readonly sshKeys: readonly string[];
  readonly createdAtMs: number;
  /** The VM's slot in the node's block of unprivileged users (see vm-user.ts); its shells run as that user. */
  readonly slot: number;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const SEED_HEX_PATTERN = /^[0-9a-fA-F]{12}$/;

/** An invalid_request error with `message`. */
export function invalid(message: string): VmDriverError {
  return new VmDriverError('invalid_request', message);
}

/** Checks a VM id (it names a folder, so no path characters). */
export function checkId(id: unknown): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw invalid('id must be 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit');
  }
  return id;
}

/** Checks a 6-byte seed in hex and returns it lower-case. */
export function checkSeedHex(seedHex: unknown): string {
  if (typeof seedHex !== 'string' || !SEED_HEX_PATTERN.test(seedHex)) throw invalid('seedHex must be 12 hex digits (6 bytes)');
  return seedHex.toLowerCase();
}

/** Whether `id` is a well-formed VM id. */
export function isVmId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

/** Whether `seedHex` is 12 hex digits. */
export function isSeedHex(seedHex: unknown): seedHex is string {
  return typeof seedHex === 'string' && SEED_HEX_PATTERN.test(seedHex);
}
