// Unyt/Holochain AgentPubKey codec: "u" + base64url(84 20 24 || ed25519 key || 4 location bytes).
import { blake2b } from '@noble/hashes/blake2.js';
import { bytesEqual, concatBytes, ensureBytes, fromBase64, toBase64Url, toHex } from './bytes.js';

/** HoloHash type prefix of an AgentPubKey (holo_hash "uhCAk"). */
const AGENT_PREFIX = Uint8Array.of(0x84, 0x20, 0x24);
const KEY_BYTES = 32;
const LOCATION_BYTES = 4;
const RAW_BYTES = AGENT_PREFIX.length + KEY_BYTES + LOCATION_BYTES;

/** Why an AgentPubKey string was refused. */
export type AgentPubKeyProblem = 'type' | 'prefix' | 'base64' | 'length' | 'hash-type' | 'location';

/** A string that is not a valid AgentPubKey; `problem` is stable, `message` is for people. */
export class AgentPubKeyError extends Error {
  constructor(readonly problem: AgentPubKeyProblem, message: string) {
    super(message);
    this.name = 'AgentPubKeyError';
  }
}

/**
 * The 4 location bytes of a 32-byte key: blake2b-128 of the key, folded by XOR of its
 * four 4-byte words (holo_hash `holo_dht_location_bytes`).
 */
export function agentPubKeyLocation(publicKey: Uint8Array): Uint8Array {
  ensureBytes('publicKey', publicKey, KEY_BYTES);
  const h = blake2b(publicKey, { dkLen: 16 });
  const loc = new Uint8Array(LOCATION_BYTES);
  for (let i = 0; i < LOCATION_BYTES; i++) {
    loc[i] = (h[i] as number) ^ (h[i + 4] as number) ^ (h[i + 8] as number) ^ (h[i + 12] as number);
  }
  return loc;
}

/** The AgentPubKey string (`uhCAk…`) of a 32-byte ed25519 public key. */
export function encodeAgentPubKey(publicKey: Uint8Array): string {
  ensureBytes('publicKey', publicKey, KEY_BYTES);
  return 'u' + toBase64Url(concatBytes(AGENT_PREFIX, publicKey, agentPubKeyLocation(publicKey)));
}

/**
 * The 32-byte ed25519 key inside an AgentPubKey string. Throws AgentPubKeyError naming the
 * problem: not "u"-prefixed, not base64url, not 39 bytes, not the agent hash type, or
 * location bytes that do not match the key.
 */
export function decodeAgentPubKey(text: unknown): Uint8Array {
  if (typeof text !== 'string') throw new AgentPubKeyError('type', 'an AgentPubKey must be a string');
  if (!text.startsWith('u')) {
    throw new AgentPubKeyError('prefix', 'an AgentPubKey starts with "u" (multibase base64url), e.g. "uhCAk…"');
  }
  let raw: Uint8Array;
  try {
    if (/[=+/]/.test(text)) throw new RangeError('not base64url');
    raw = fromBase64('agent', text.slice(1));
  } catch {
    throw new AgentPubKeyError('base64', 'an AgentPubKey is "u" followed by unpadded base64url');
  }
  if (raw.length !== RAW_BYTES) {
    throw new AgentPubKeyError('length', `an AgentPubKey holds ${RAW_BYTES} bytes, this one holds ${raw.length}`);
  }
  if (!bytesEqual(raw.subarray(0, 3), AGENT_PREFIX)) {
    throw new AgentPubKeyError('hash-type', `not an agent key: hash type ${toHex(raw.subarray(0, 3))}, expected 842024 ("uhCAk")`);
  }
  const key = raw.slice(3, 3 + KEY_BYTES);
  const loc = raw.subarray(3 + KEY_BYTES);
  if (!bytesEqual(loc, agentPubKeyLocation(key))) {
    throw new AgentPubKeyError('location', 'the location bytes do not match the key (a typo, or a tampered key)');
  }
  return key;
}

/** The 4 location bytes stored in an AgentPubKey string (after full validation). */
export function locationOfAgentPubKey(text: string): Uint8Array {
  return agentPubKeyLocation(decodeAgentPubKey(text));
}

/** True when `text` is a valid AgentPubKey. */
export function isAgentPubKey(text: unknown): text is string {
  try {
    decodeAgentPubKey(text);
    return true;
  } catch {
    return false;
  }
}
