// An order's sealed secrets: checked when the order is placed (names, sizes, caps, nodes), and narrowed to the node that runs it.
import { fromBase64, SEAL_OVERHEAD_BYTES } from '../../identity/index.js';
import { MAX_SEALED_BASE64, MAX_SEALED_BYTES_PER_ORDER, MAX_SECRET_BYTES, MAX_SECRETS, SECRET_NAME, type SealedSecret } from '../../protocol/sealed-secret.js';
import { ValidationError, expectArray, expectObject, expectOnlyKeys, expectString } from '../../protocol/validate.js';
import { PublicError } from '../http/public-error.js';
import type { OrderSecret } from '../store/records.js';

/** Most nodes one secret may be sealed to (one box each). */
export const MAX_NODES_PER_SECRET = 8;

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/**
 * Checks `secrets` of an order body: at most MAX_SECRETS, unique names that are file names, each
 * sealed to 1–MAX_NODES_PER_SECRET nodes, each box a sealed box of at most 64 KiB of secret, and
 * every node named by every secret (the order runs on one of those). The boxes stay sealed: the
 * gateway checks only their length. 400 naming the field; 413 past the order's sealed-bytes cap.
 */
export function parseOrderSecrets(value: unknown, provisioner: 'agent' | 'grid'): OrderSecret[] {
  if (provisioner === 'grid') {
    throw new PublicError('bad_request', 'secrets: this gateway deploys VMs on the ThreeFold grid, where what a VM starts with passes through the gateway (zos env), so a secret could not stay sealed end to end', 'order without secrets and copy them in over ssh', { field: 'secrets' });
  }
  let total = 0;
  const names = new Set<string>();
  const secrets = expectArray(value, 'secrets', 1, MAX_SECRETS, (v, f): OrderSecret => {
    const o = expectObject(v, f);
    expectOnlyKeys(o, ['name', 'sealed'], f);
    const name = expectString(o.name, `${f}.name`, { pattern: SECRET_NAME, patternName: 'a file name of letters, digits, . _ and - (1-64, not starting with . _ -)' });
    if (names.has(name)) throw new ValidationError(`${f}.name`, `${name} is used twice`);
    names.add(name);
    const boxes = expectObject(o.sealed, `${f}.sealed`);
    const nodes = Object.keys(boxes);
    if (nodes.length < 1 || nodes.length > MAX_NODES_PER_SECRET) throw new ValidationError(`${f}.sealed`, `must seal the secret to 1 to ${MAX_NODES_PER_SECRET} nodes ({"NODE": "BOX"}), got ${nodes.length}`, 'hypha seal --to NODE_KEY FILE prints a box; NODE_KEY is sealTo of GET /v1/nodes/NODE');
    const sealed: Record<string, string> = {};
    for (const node of nodes) {
      const field = `${f}.sealed.${node}`;
      if (!NODE_ID.test(node)) throw new ValidationError(`${f}.sealed`, `${JSON.stringify(node.slice(0, 70))} is not a node id`);
      const text = expectString(boxes[node], field, { maxLength: MAX_SEALED_BASE64 });
      const bytes = fromBase64(field, text).length;
      if (bytes < SEAL_OVERHEAD_BYTES || bytes > MAX_SECRET_BYTES + SEAL_OVERHEAD_BYTES) throw new ValidationError(field, `is not a sealed box of at most ${MAX_SECRET_BYTES} bytes of secret (${bytes} bytes)`, 'seal it with hypha seal --to NODE_KEY FILE');
      total += bytes;
      sealed[node] = text;
    }
    return { name, sealed };
  });
  if (total > MAX_SEALED_BYTES_PER_ORDER) {
    throw new PublicError('payload_too_large', `secrets: ${total} sealed bytes, more than the ${MAX_SEALED_BYTES_PER_ORDER} one order may carry`, 'seal to fewer nodes, or send fewer or smaller secrets', { field: 'secrets' });
  }
  if (secretNodes(secrets).length === 0) throw new ValidationError('secrets', 'no node is named by every secret: each secret must be sealed to the node(s) the order may run on', 'seal every secret to the same node(s)');
  return secrets;
}

/**
 * Whether an order with these secrets may run on `node`: every secret has a box keyed by that node
 * id. This is all the gateway can check: a sealed box (crypto_box_seal) carries no recipient tag,
 * only the node's secret key tells whether it opens, so the key a customer sealed to is taken on trust.
 */
export function secretsOpenOn(secrets: readonly OrderSecret[], node: string): boolean {
  return secrets.every((s) => s.sealed[node] !== undefined);
}

/** The nodes an order with these secrets may run on: those every secret is sealed to. */
export function secretNodes(secrets: readonly OrderSecret[]): string[] {
  const [first] = secrets;
  if (!first) return [];
  return Object.keys(first.sealed).filter((node) => secretsOpenOn(secrets, node));
}

/**
 * 400 naming `secrets` when an order that can run only on `node` (an accepted bid's) carries
 * secrets not sealed to it: that order could never be placed on a node, so it is refused before
 * anything is stored or charged.
 */
export function expectSecretsFor(secrets: readonly OrderSecret[] | undefined, node: string): void {
  if (secrets === undefined || secretsOpenOn(secrets, node)) return;
  const missing = secrets.filter((s) => s.sealed[node] === undefined).map((s) => s.name);
  throw new ValidationError(
    'secrets',
    `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not sealed to ${node}, the node of the bid accepted: the VM runs there and nowhere else, so every secret needs a box for ${node}`,
    `seal each to sealTo of GET /v1/nodes/${node} (hypha seal --to NODE_KEY FILE) and send it under "${node}"`,
  );
}

/** What the node that runs the order gets: each secret's box for that node. */
export function secretsFor(secrets: readonly OrderSecret[], node: string): SealedSecret[] {
  return secrets.map((s) => ({ name: s.name, box: s.sealed[node] as string }));
}
