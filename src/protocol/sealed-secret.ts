// Sealed secrets an order carries to its node: their names, sizes and the caps both sides check.
import { SEAL_OVERHEAD_BYTES } from '../identity/index.js';

/** Most bytes of one secret before sealing (issue 16: "each at most 64 KiB"). */
export const MAX_SECRET_BYTES = 64 * 1024;
/** Most secrets one order carries. */
export const MAX_SECRETS = 8;
/** Most sealed bytes one order carries, all secrets and nodes together (the body limit of POST /v1/orders follows it). */
export const MAX_SEALED_BYTES_PER_ORDER = 256 * 1024;
/** Most base64 characters of one sealed secret. */
export const MAX_SEALED_BASE64 = Math.ceil((MAX_SECRET_BYTES + SEAL_OVERHEAD_BYTES) / 3) * 4;
/** A secret's name: the file name it gets on the VM. */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** One secret as the node receives it: its name and the box sealed to this node. */
export interface SealedSecret {
  readonly name: string;
  /** base64 of crypto_box_seal(secret, the node farmer's X25519 key). */
  readonly box: string;
}
