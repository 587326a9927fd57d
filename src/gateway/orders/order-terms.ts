// What an order carries besides its offer (SSH keys, a name, redeploy), read the same way for POST /v1/orders and an accepted bid.
import { expectBoolean, optionalString, ValidationError } from '../../protocol/validate.js';
import type { SignedBid } from '../../protocol/bid.js';
import type { OrderSecret } from '../store/records.js';
import { parseOrderSecrets, secretNodes } from './order-secrets.js';
import { parseSshKeysWithin } from './ssh-key-limit.js';

/** An order's terms, validated. */
export interface OrderTerms {
  readonly sshKeys: readonly string[];
  readonly name?: string;
  /** Deploy again elsewhere if the node dies (opt-in: the disk is lost). */
  readonly redeploy?: boolean;
  /** The farmer's signed bid the order is placed at (its node, size and price). */
  readonly bid?: SignedBid;
  /** Secrets sealed to the nodes that may run the order (the gateway cannot open them). */
  readonly secrets?: readonly OrderSecret[];
}

const NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

/**
 * Reads `sshKeys`, `name`, `redeploy` and `secrets` of a request body; 400 naming the field, 413 for
 * too many key or secret bytes. `provisioner` says where VMs run: a grid gateway refuses secrets.
 * Redeploy with secrets sealed to one node only is refused: a move needs another node that can open
 * them, and the gateway cannot seal them to one (it never sees them).
 */
export function parseOrderTerms(o: Record<string, unknown>, maxSshKeyBytes: number, provisioner: 'agent' | 'grid'): OrderTerms {
  const sshKeys = parseSshKeysWithin(o.sshKeys, maxSshKeyBytes);
  const name = optionalString(o.name, 'name', { pattern: NAME, patternName: '1-32 lower-case letters, digits and -' });
  const redeploy = o.redeploy === undefined ? undefined : expectBoolean(o.redeploy, 'redeploy');
  const secrets = o.secrets === undefined ? undefined : parseOrderSecrets(o.secrets, provisioner);
  if (redeploy && secrets && secretNodes(secrets).length < 2) {
    throw new ValidationError('redeploy', `needs every secret sealed to at least two nodes, but they share only ${secretNodes(secrets).join(', ')}: a redeployed VM runs on another node, which could not open them, and the gateway cannot re-seal them`, 'seal every secret to more nodes (GET /v1/nodes/NODE gives each sealTo), or order without redeploy');
  }
  return { sshKeys, ...(name !== undefined ? { name } : {}), ...(redeploy ? { redeploy } : {}), ...(secrets ? { secrets } : {}) };
}
