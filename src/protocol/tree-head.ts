// A period's tree head: the Merkle root over every receipt issued in one close, signed once by the gateway, chained to the previous head.
import { blake2b, canonicalJsonBytes, decodeAgentPubKey, fromBase64, fromHex, toBase64, toHex, verify } from '../identity/index.js';

/** The purpose tag a tree head is signed under (it is the head's own `purpose` field). */
export const TREE_HEAD_PURPOSE = 'hypha/tree-head/v1';

/** What the gateway signs once per period: canonical JSON of this object. */
export interface TreeHead {
  readonly v: 1;
  readonly purpose: typeof TREE_HEAD_PURPOSE;
  readonly gateway: string;
  /** The billing period the close covered (every receipt's period lies within it). */
  readonly periodStart: string;
  readonly periodEnd: string;
  /** Receipts in the tree. */
  readonly size: number;
  /** RFC 9162 Merkle root (BLAKE2b-256, hex) over the receipts' leaf hashes, in issue order. */
  readonly root: string;
  readonly issuedAt: string;
  /** treeHeadHash of the gateway's previous head, or null for its first. */
  readonly prev: string | null;
}

/** A tree head with the gateway's signature (base64 ed25519 over treeHeadBytes). */
export interface SignedTreeHead extends TreeHead {
  readonly signature: string;
}

/** The head without its signature. */
export function treeHeadBody(head: TreeHead | SignedTreeHead): TreeHead {
  const { signature: _signature, ...body } = head as SignedTreeHead;
  return body;
}

/** The bytes the gateway signs. */
export function treeHeadBytes(head: TreeHead | SignedTreeHead): Uint8Array {
  return canonicalJsonBytes(treeHeadBody(head));
}

/** BLAKE2b-256 (hex) of the signed bytes: what the next head's `prev`, the ledger and farmers' countersignatures name. */
export function treeHeadHash(head: TreeHead | SignedTreeHead): string {
  return toHex(blake2b(treeHeadBytes(head), 32));
}

/** Signs a head with the gateway's signing function. */
export function signTreeHead(head: TreeHead, sign: (message: Uint8Array) => Uint8Array): SignedTreeHead {
  return { ...head, signature: toBase64(sign(treeHeadBytes(head))) };
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks a signed tree head's shape and the gateway's signature (against `pinnedGateway` when
 * given); null when it holds, else the reason. Throws nothing for bad input.
 */
export function checkTreeHead(value: unknown, pinnedGateway?: string): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'treeHead must be an object';
  const h = value as Record<string, unknown>;
  if (h.v !== 1) return `unsupported tree head version ${JSON.stringify(h.v)}`;
  if (h.purpose !== TREE_HEAD_PURPOSE) return `treeHead.purpose must be ${TREE_HEAD_PURPOSE}`;
  if (typeof h.gateway !== 'string' || h.gateway === '') return 'treeHead.gateway must be a non-empty string';
  for (const f of ['periodStart', 'periodEnd', 'issuedAt'] as const) {
    if (typeof h[f] !== 'string' || !ISO.test(h[f]) || Number.isNaN(Date.parse(h[f]))) return `treeHead.${f} must be an ISO-8601 UTC time`;
  }
  if (Date.parse(h.periodEnd as string) <= Date.parse(h.periodStart as string)) return 'treeHead.periodEnd must be after treeHead.periodStart';
  if (typeof h.size !== 'number' || !Number.isSafeInteger(h.size) || h.size < 1) return 'treeHead.size must be a positive integer';
  if (typeof h.root !== 'string' || !HEX64.test(h.root)) return 'treeHead.root must be 64 hex digits';
  if (h.prev !== null && (typeof h.prev !== 'string' || !HEX64.test(h.prev))) return 'treeHead.prev must be null or 64 hex digits';
  if (pinnedGateway !== undefined && h.gateway !== pinnedGateway) return `tree head signed by gateway ${h.gateway}, not the expected ${pinnedGateway}`;
  return signatureHolds(h.signature, treeHeadBytes(h as unknown as SignedTreeHead), h.gateway) ? null : "the gateway's tree-head signature does not verify";
}

/** Whether `signature` (base64) is `agent`'s ed25519 signature of `bytes`; false for anything malformed. */
export function signatureHolds(signature: unknown, bytes: Uint8Array, agent: string): boolean {
  if (typeof signature !== 'string') return false;
  try {
    return verify(fromBase64('signature', signature, 64), bytes, decodeAgentPubKey(agent));
  } catch {
    return false;
  }
}

/** A root or hash given as hex, as bytes; null when it is not 64 hex digits. */
export function hashBytes(value: unknown): Uint8Array | null {
  if (typeof value !== 'string' || !HEX64.test(value)) return null;
  return fromHex('hash', value, 32);
}
