// OpenSSH public key lines for a lab VM: parsed once into what login compares, without ever echoing key text.
import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { VmDriverError } from '../vm-driver.js';

const MAX_SSH_KEYS = 64;
const MAX_SSH_KEY_CHARS = 16_384;

/** An authorized key, parsed once: login compares the type and the public blob, then checks the signature. */
export interface AuthorizedKey {
  readonly type: string;
  readonly blob: Buffer;
  readonly key: ParsedKey;
}

/**
 * Parses OpenSSH public key lines ("ssh-ed25519 AAAA… comment") into what login compares.
 * Messages name the index, never the key text: a private key pasted by mistake must not reach a log.
 */
export function parseAuthorizedKeys(sshKeys: unknown): AuthorizedKey[] {
  const invalid = (message: string): VmDriverError => new VmDriverError('invalid_request', message);
  if (!Array.isArray(sshKeys)) throw invalid('sshKeys must be an array of OpenSSH public key lines');
  if (sshKeys.length > MAX_SSH_KEYS) throw invalid(`sshKeys has ${sshKeys.length} keys; at most ${MAX_SSH_KEYS}`);
  return sshKeys.map((line: unknown, i) => {
    if (typeof line !== 'string' || line.length > MAX_SSH_KEY_CHARS || /[\r\n\0]/.test(line.trim())) {
      throw invalid(`sshKeys[${i}] must be one OpenSSH public key line ("ssh-ed25519 AAAA… comment")`);
    }
    const key = parseOneKey(line.trim());
    if (key === undefined) {
      throw invalid(`sshKeys[${i}] is not an OpenSSH public key line ("ssh-ed25519 AAAA… comment")`);
    }
    if (key.isPrivateKey()) throw invalid(`sshKeys[${i}] is a private key: send the .pub line instead, and treat that private key as leaked`);
    return { type: key.type, blob: key.getPublicSSH(), key };
  });
}

/** ssh2's parseKey, whose typings omit that an OpenSSH private key file parses to an array of keys. */
function parseOneKey(data: string | Buffer): ParsedKey | undefined {
  const parsed = ssh2.utils.parseKey(data) as ParsedKey | ParsedKey[] | Error;
  if (parsed instanceof Error) return undefined;
  if (Array.isArray(parsed)) return parsed.length === 1 ? parsed[0] : undefined;
  return parsed;
}

/** A new ed25519 host key, as the PEM text ssh2's server takes. */
export function newHostKeyPem(): Buffer {
  return Buffer.from(ssh2.utils.generateKeyPairSync('ed25519').private, 'utf8');
}

/** The OpenSSH line ("ssh-ed25519 AAAA…") of a host key, for customers to pin. */
export function hostPublicKeySshOf(hostKeyPem: Buffer): string {
  const key = parseOneKey(hostKeyPem);
  if (key === undefined) throw new VmDriverError('failed', 'a VM host key file is unreadable; destroy and redeploy the VM');
  return `${key.type} ${key.getPublicSSH().toString('base64')}`;
}

/** Constant-time comparison of two key blobs. */
export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
