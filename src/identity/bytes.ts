// Argument checks and hex/base64 codecs shared by every identity function.
import { kindOf } from './kind-of.js';

/**
 * Checks that `value` is a Uint8Array (of `length` bytes when given).
 * Wrong type -> TypeError, wrong length -> RangeError; both name the argument.
 */
export function ensureBytes(name: string, value: unknown, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`${name} must be a Uint8Array, got ${kindOf(value)}`);
  }
  if (length !== undefined && value.length !== length) {
    throw new RangeError(`${name} must be ${length} bytes, got ${value.length}`);
  }
  return value;
}

/** Checks that `value` is a string; TypeError naming the argument otherwise. */
export function ensureString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${kindOf(value)}`);
  return value;
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Parses hex (either case) into bytes; `length` in bytes when given. */
export function fromHex(name: string, text: unknown, length?: number): Uint8Array {
  ensureString(name, text);
  const hex = text as string;
  if (!HEX.test(hex)) throw new RangeError(`${name} must be hex (an even number of 0-9a-f digits)`);
  const bytes = new Uint8Array(Buffer.from(hex, 'hex'));
  if (length !== undefined && bytes.length !== length) {
    throw new RangeError(`${name} must be ${length} bytes (${length * 2} hex digits), got ${bytes.length}`);
  }
  return bytes;
}

/** Standard base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** base64url without padding (RFC 4648 section 5). */
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Strictly decodes base64 (standard, padded or not) or base64url (unpadded).
 * Node's decoder silently skips bad characters; this one refuses them, and refuses
 * encodings with non-zero trailing bits, so every byte string has one spelling.
 */
export function fromBase64(name: string, text: unknown, length?: number): Uint8Array {
  ensureString(name, text);
  const s = text as string;
  const isStd = BASE64.test(s) && !/[-_]/.test(s);
  const isUrl = BASE64URL.test(s);
  if (!isStd && !isUrl) throw new RangeError(`${name} must be base64 or base64url`);
  const unpadded = s.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) throw new RangeError(`${name} has an impossible base64 length`);
  if (s.includes('=') && s.length % 4 !== 0) throw new RangeError(`${name} has bad base64 padding`);
  const bytes = new Uint8Array(Buffer.from(unpadded.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
  if (toBase64Url(bytes) !== unpadded.replace(/\+/g, '-').replace(/\//g, '_')) {
    throw new RangeError(`${name} is not canonical base64 (non-zero trailing bits)`);
  }
  if (length !== undefined && bytes.length !== length) {
    throw new RangeError(`${name} must decode to ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** Constant-time equality of two byte strings (false when lengths differ). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** Concatenates byte strings. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}
