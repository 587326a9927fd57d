// HoloHashes on the Unyt wire: the 39 raw bytes @holochain/client sends, and their "u…" strings.
import { agentPubKeyLocation, decodeAgentPubKey, encodeAgentPubKey } from '../../../identity/agent-pub-key.js';
import { bytesEqual, concatBytes, fromBase64, toBase64Url } from '../../../identity/bytes.js';

/** holo_hash type prefix of an ActionHash ("uhCkk"); an agreement (EA) id is one. */
const ACTION_PREFIX = Uint8Array.of(0x84, 0x29, 0x24);
/** holo_hash type prefix of an AgentPubKey ("uhCAk"). */
const AGENT_PREFIX = Uint8Array.of(0x84, 0x20, 0x24);
/** A HoloHash is 3 prefix bytes, a 32-byte core and 4 location bytes (holo_hash HOLO_HASH_FULL_LEN). */
export const HOLO_HASH_BYTES = 39;

/** The raw 39-byte AgentPubKey of a "uhCAk…" string; throws AgentPubKeyError (agent-pub-key.ts) when invalid. */
export function agentBytes(agent: string): Uint8Array {
  const key = decodeAgentPubKey(agent);
  return concatBytes(AGENT_PREFIX, key, agentPubKeyLocation(key));
}

/** The "uhCAk…" string of 39 raw AgentPubKey bytes, or undefined when they are not a valid agent key. */
export function agentText(bytes: Uint8Array): string | undefined {
  if (bytes.length !== HOLO_HASH_BYTES || !bytesEqual(bytes.subarray(0, 3), AGENT_PREFIX)) return undefined;
  const text = encodeAgentPubKey(bytes.slice(3, 35));
  return bytesEqual(agentBytes(text), bytes) ? text : undefined;
}

/**
 * The raw bytes of an ActionHash string ("uhCkk…"), or undefined when it is not one: wrong
 * prefix, length, or location bytes that do not belong to the core (a typo).
 */
export function actionHashBytes(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || !/^u[A-Za-z0-9_-]{52}$/.test(text)) return undefined;
  let raw: Uint8Array;
  try {
    raw = fromBase64('hash', text.slice(1));
  } catch {
    return undefined;
  }
  if (raw.length !== HOLO_HASH_BYTES || !bytesEqual(raw.subarray(0, 3), ACTION_PREFIX)) return undefined;
  return bytesEqual(raw.subarray(35), agentPubKeyLocation(raw.slice(3, 35))) ? raw : undefined;
}

/** The ActionHash of a 32-byte core (prefix and location added), as a "uhCkk…" string. */
export function actionHashOf(core: Uint8Array): string {
  return `u${toBase64Url(concatBytes(ACTION_PREFIX, core, agentPubKeyLocation(core)))}`;
}

/** Any HoloHash the conductor sent (39 bytes, or its "u…" string) as its "u…" string; undefined otherwise. */
export function holoHashText(value: unknown): string | undefined {
  if (value instanceof Uint8Array) return value.length === HOLO_HASH_BYTES ? `u${toBase64Url(value)}` : undefined;
  if (typeof value === 'string' && /^u[A-Za-z0-9_-]{52}$/.test(value)) return value;
  return undefined;
}
