// What an order carries besides its offer (SSH keys, a name, redeploy), read the same way for POST /v1/orders and an accepted bid.
import { parseSshPublicKeys } from '../../protocol/ssh-key.js';
import { expectBoolean, optionalString } from '../../protocol/validate.js';
import type { SignedBid } from '../../protocol/bid.js';
import { PublicError } from '../http/public-error.js';

/** An order's terms, validated. */
export interface OrderTerms {
  readonly sshKeys: readonly string[];
  readonly name?: string;
  /** Deploy again elsewhere if the node dies (opt-in: the disk is lost). */
  readonly redeploy?: boolean;
  /** The farmer's signed bid the order is placed at (its node, size and price). */
  readonly bid?: SignedBid;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

/** Reads `sshKeys`, `name` and `redeploy` of a request body; 400 naming the field, 413 for too many key bytes. */
export function parseOrderTerms(o: Record<string, unknown>, maxSshKeyBytes: number): OrderTerms {
  const sshKeys = parseSshPublicKeys(o.sshKeys, 'sshKeys').map((k) => k.line);
  const keyBytes = sshKeys.reduce((n, k) => n + Buffer.byteLength(k, 'utf8'), 0);
  if (keyBytes > maxSshKeyBytes) {
    throw new PublicError('payload_too_large', `sshKeys: ${keyBytes} bytes of keys, more than the ${maxSshKeyBytes} one order may carry (orders.maxSshKeyBytes)`, 'send fewer keys, or ed25519 keys (about 100 bytes each)', { field: 'sshKeys', limit: 'orders.maxSshKeyBytes' });
  }
  const name = optionalString(o.name, 'name', { pattern: NAME, patternName: '1-32 lower-case letters, digits and -' });
  const redeploy = o.redeploy === undefined ? undefined : expectBoolean(o.redeploy, 'redeploy');
  return { sshKeys, ...(name !== undefined ? { name } : {}), ...(redeploy ? { redeploy } : {}) };
}
