// The SSH keys a customer hands a VM, parsed and held to one byte budget wherever they come in (an order, a key replacement).
import { parseSshPublicKeys } from '../../protocol/ssh-key.js';
import { PublicError } from '../http/public-error.js';

/**
 * Parses `value` as the `sshKeys` field and refuses more than `maxBytes` of key lines (413 naming
 * `sshKeys` and `orders.maxSshKeyBytes`): the keys are stored with the deployment and sent to the
 * node, so a caller must not make either grow without bound.
 */
export function parseSshKeysWithin(value: unknown, maxBytes: number): string[] {
  const keys = parseSshPublicKeys(value, 'sshKeys').map((k) => k.line);
  const bytes = keys.reduce((n, k) => n + Buffer.byteLength(k, 'utf8'), 0);
  if (bytes > maxBytes) {
    throw new PublicError('payload_too_large', `sshKeys: ${bytes} bytes of keys, more than the ${maxBytes} one VM may carry (orders.maxSshKeyBytes)`, 'send fewer keys, or ed25519 keys (about 100 bytes each)', { field: 'sshKeys', limit: 'orders.maxSshKeyBytes' });
  }
  return keys;
}
