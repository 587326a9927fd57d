// ed25519 key files: a JSON document holding the seed, mode 0600, refused when others can read it.
import { errorMessage } from './error-message.js';
import { encodeAgentPubKey } from './agent-pub-key.js';
import { bytesEqual, fromHex, toHex } from './bytes.js';
import { generateSigningKeyPair, seedOf, signingKeyPairFromSeed, type SigningKeyPair } from './ed25519.js';
import { readSecureFile, SecureFileError, writeSecureFile } from './secure-file.js';

/** A loaded signing identity: the key pair and its AgentPubKey. */
export interface Identity extends SigningKeyPair {
  /** The AgentPubKey string ("uhCAk…") of the public key. */
  readonly agent: string;
}

/** Why a key file was refused. */
export type KeyFileProblem = 'not_found' | 'permissions' | 'exists' | 'io' | 'corrupt' | 'mismatch';

/** A key file that could not be read or written. */
export class KeyFileError extends Error {
  constructor(readonly problem: KeyFileProblem, readonly path: string, message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

interface KeyFileJson {
  v: 1;
  type: 'ed25519';
  agent: string;
  publicKeyHex: string;
  seedHex: string;
}

/** The identity of a key pair. */
export function identityOf(pair: SigningKeyPair): Identity {
  return { ...pair, agent: encodeAgentPubKey(pair.publicKey) };
}

/** A new random identity (not yet saved). */
export function newIdentity(): Identity {
  return identityOf(generateSigningKeyPair());
}

/** Writes `identity` to `path` (mode 0600, atomic); refuses to replace a file unless `overwrite`. */
export function saveKeyFile(path: string, identity: SigningKeyPair, overwrite = false): void {
  const doc: KeyFileJson = {
    v: 1,
    type: 'ed25519',
    agent: encodeAgentPubKey(identity.publicKey),
    publicKeyHex: toHex(identity.publicKey),
    seedHex: toHex(seedOf(identity.secretKey)),
  };
  try {
    writeSecureFile(path, JSON.stringify(doc, null, 2) + '\n', { exclusive: !overwrite });
  } catch (err) {
    throw wrap(err, path);
  }
}

/**
 * Loads a key file. Refused with a KeyFileError when missing, readable by others, not a
 * hypha key file, or when its stored public key does not match its seed.
 */
export function loadKeyFile(path: string): Identity {
  let raw: Buffer;
  try {
    raw = readSecureFile(path);
  } catch (err) {
    throw wrap(err, path);
  }
  let doc: Partial<KeyFileJson>;
  try {
    doc = JSON.parse(raw.toString('utf8')) as Partial<KeyFileJson>;
  } catch {
    throw new KeyFileError('corrupt', path, `${path} is not a hypha key file (not JSON)`);
  }
  if (doc === null || typeof doc !== 'object' || doc.v !== 1 || doc.type !== 'ed25519') {
    throw new KeyFileError('corrupt', path, `${path} is not a hypha key file (expected {"v": 1, "type": "ed25519", …})`);
  }
  let pair: SigningKeyPair;
  try {
    pair = signingKeyPairFromSeed(fromHex('seedHex', doc.seedHex, 32));
  } catch (err) {
    throw new KeyFileError('corrupt', path, `${path}: ${errorMessage(err)}`);
  }
  if (doc.publicKeyHex !== undefined) {
    let stored: Uint8Array;
    try {
      stored = fromHex('publicKeyHex', doc.publicKeyHex, 32);
    } catch (err) {
      throw new KeyFileError('corrupt', path, `${path}: ${errorMessage(err)}`);
    }
    if (!bytesEqual(stored, pair.publicKey)) {
      throw new KeyFileError('mismatch', path, `${path}: publicKeyHex does not belong to seedHex; the file was edited or damaged`);
    }
  }
  return identityOf(pair);
}

function wrap(err: unknown, path: string): KeyFileError {
  if (err instanceof SecureFileError) return new KeyFileError(err.problem, path, err.message);
  if (err instanceof KeyFileError) return err;
  return new KeyFileError('io', path, `${path}: ${errorMessage(err)}`);
}
