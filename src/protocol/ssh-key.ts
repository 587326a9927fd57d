// OpenSSH public key lines: checked by type, base64, and the key blob's own structure (RFC 4253 section 6.6).
import { createHash } from 'node:crypto';
import { ValidationError } from './validate.js';

/** Key types a VM accepts, with the blob check for each. */
const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

/** Most keys one order or VM may carry. */
export const MAX_SSH_KEYS = 16;
/** The longest accepted key line (an RSA 16384-bit key fits). */
export const MAX_SSH_KEY_LINE = 8192;
/** RSA keys shorter than this are refused (NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048;

/** A parsed public key: its type, base64 blob, and optional comment. */
export interface SshPublicKey {
  readonly type: string;
  readonly blobBase64: string;
  readonly comment: string;
  /** The normalised line: "type base64 comment" (single spaces). */
  readonly line: string;
}

/**
 * Parses one OpenSSH public key line. The blob must decode as strict base64, start with its
 * own type string equal to the declared type, and hold exactly the fields of that type.
 * authorized_keys options (command="…", from=…) are refused: a VM gets plain keys only.
 */
export function parseSshPublicKey(value: unknown, field: string): SshPublicKey {
  if (typeof value !== 'string') throw new ValidationError(field, 'must be a string such as "ssh-ed25519 AAAA… you@laptop"');
  const line = value.trim();
  if (line.length === 0) throw new ValidationError(field, 'is empty');
  if (line.length > MAX_SSH_KEY_LINE) throw new ValidationError(field, `is longer than ${MAX_SSH_KEY_LINE} characters`);
  if (/[\r\n\0]/.test(line)) throw new ValidationError(field, 'must be one line (one key per array item)');
  const [type = '', blobBase64 = '', ...rest] = line.split(/[ \t]+/);
  if (!KEY_TYPES.has(type)) {
    throw new ValidationError(
      field,
      `key type ${JSON.stringify(type.slice(0, 40))} is not accepted`,
      `use one of ${[...KEY_TYPES].join(', ')}; the file is usually ~/.ssh/id_ed25519.pub`,
    );
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blobBase64) || blobBase64.length % 4 !== 0) {
    throw new ValidationError(field, 'the key data is not valid base64');
  }
  const blob = Buffer.from(blobBase64, 'base64');
  if (blob.toString('base64') !== blobBase64) throw new ValidationError(field, 'the key data is not canonical base64');
  const reader = new BlobReader(blob, field);
  const innerType = reader.string().toString('latin1');
  if (innerType !== type) throw new ValidationError(field, `the key data says it is ${JSON.stringify(innerType.slice(0, 40))}, not ${type}`);
  checkBlob(type, reader, field);
  if (!reader.done()) throw new ValidationError(field, 'the key data has trailing bytes');
  const comment = rest.join(' ');
  if (!/^[\x20-\x7e]*$/.test(comment)) throw new ValidationError(field, 'the comment must be printable ASCII');
  if (rest.some((word, i) => KEY_TYPES.has(word) && /^AAAA[A-Za-z0-9+/]+={0,2}$/.test(rest[i + 1] ?? ''))) {
    throw new ValidationError(field, 'holds more than one key', 'put each key in its own array item');
  }
  return { type, blobBase64, comment, line: comment ? `${type} ${blobBase64} ${comment}` : `${type} ${blobBase64}` };
}

/** Parses a list of keys (1 to MAX_SSH_KEYS, no duplicates). */
export function parseSshPublicKeys(value: unknown, field: string): SshPublicKey[] {
  if (!Array.isArray(value)) throw new ValidationError(field, 'must be an array of public key lines', 'e.g. ["ssh-ed25519 AAAA… you@laptop"]');
  if (value.length === 0) throw new ValidationError(field, 'must hold at least one key', 'without a key nobody could log in to the VM');
  if (value.length > MAX_SSH_KEYS) throw new ValidationError(field, `may hold at most ${MAX_SSH_KEYS} keys, got ${value.length}`);
  const keys = value.map((v, i) => parseSshPublicKey(v, `${field}[${i}]`));
  const seen = new Set<string>();
  keys.forEach((k, i) => {
    const id = `${k.type} ${k.blobBase64}`;
    if (seen.has(id)) throw new ValidationError(`${field}[${i}]`, 'is the same key as an earlier one');
    seen.add(id);
  });
  return keys;
}

function checkBlob(type: string, r: BlobReader, field: string): void {
  switch (type) {
    case 'ssh-ed25519':
      if (r.string().length !== 32) throw new ValidationError(field, 'an ed25519 key is 32 bytes');
      return;
    case 'sk-ssh-ed25519@openssh.com':
      if (r.string().length !== 32) throw new ValidationError(field, 'an ed25519 key is 32 bytes');
      r.string();
      return;
    case 'ssh-rsa': {
      const e = r.mpint();
      const n = r.mpint();
      if (e.length === 0 || ((e[e.length - 1] as number) & 1) === 0) throw new ValidationError(field, 'the RSA exponent is not odd');
      const bits = n.length * 8 - Math.clz32(n[0] ?? 0) + 24;
      if (bits < MIN_RSA_BITS) throw new ValidationError(field, `RSA keys must be at least ${MIN_RSA_BITS} bits, this one is ${bits}`, 'make an ed25519 key: ssh-keygen -t ed25519');
      return;
    }
    default: {
      const curve = r.string().toString('latin1');
      const expected = type.replace(/^sk-/, '').replace(/@openssh\.com$/, '').replace('ecdsa-sha2-', '');
      if (curve !== expected) throw new ValidationError(field, `the curve ${JSON.stringify(curve.slice(0, 20))} does not match ${type}`);
      const point = r.string();
      const sizes: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };
      if (point.length !== sizes[curve] || point[0] !== 0x04) throw new ValidationError(field, 'the ECDSA point is not an uncompressed point of its curve');
      if (type.startsWith('sk-')) r.string();
    }
  }
}

class BlobReader {
  private at = 0;
  constructor(private readonly blob: Buffer, private readonly field: string) {}

  string(): Buffer {
    if (this.at + 4 > this.blob.length) throw new ValidationError(this.field, 'the key data is truncated');
    const len = this.blob.readUInt32BE(this.at);
    this.at += 4;
    if (len > this.blob.length - this.at) throw new ValidationError(this.field, 'the key data is truncated');
    const out = this.blob.subarray(this.at, this.at + len);
    this.at += len;
    return out;
  }

  mpint(): Buffer {
    const raw = this.string();
    let start = 0;
    while (start < raw.length && raw[start] === 0) start++;
    return raw.subarray(start);
  }

  done(): boolean {
    return this.at === this.blob.length;
  }
}

/** A key's OpenSSH SHA256 fingerprint ("SHA256:" + unpadded base64 of SHA-256 over the blob), as `ssh-keygen -l` prints it. */
export function sshKeyFingerprint(blob: Uint8Array): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}
