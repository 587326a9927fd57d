// IPv6 parsing and formatting, the Mycelium 400::/7 range, /64 subnets, and overlay addresses.
import { blake3 } from '@noble/hashes/blake3.js';
import { ensureBytes } from './bytes.js';

/** An IPv6 text that could not be parsed, or an address outside what was asked for. */
export class AddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressError';
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parses an IPv6 address (RFC 4291 section 2.2 text forms, including "::" and a trailing
 * dotted IPv4) into 16 bytes. Brackets are accepted; a zone index ("%eth0") is refused,
 * because no Mycelium address has one.
 */
export function parseIpv6(text: unknown): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('address must be a string');
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (s.includes('%')) throw new AddressError(`${text} has a zone index; a Mycelium address has none`);
  if (s.length === 0 || s.length > 45) throw new AddressError(`${JSON.stringify(text)} is not an IPv6 address`);
  const halves = s.split('::');
  if (halves.length > 2) throw new AddressError(`${text} has more than one "::"`);
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    pieces.forEach((piece, i) => {
      if (i === pieces.length - 1 && piece.includes('.')) {
        if (!IPV4.test(piece)) throw new AddressError(`${text} has a bad embedded IPv4 part`);
        const o = piece.split('.').map(Number) as [number, number, number, number];
        out.push((o[0] << 8) | o[1], (o[2] << 8) | o[3]);
      } else if (GROUP.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        throw new AddressError(`${JSON.stringify(text)} is not an IPv6 address`);
      }
    });
    return out;
  };
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  if (halves.length === 1 && head.length !== 8) throw new AddressError(`${JSON.stringify(text)} is not an IPv6 address (needs 8 groups)`);
  if (halves.length === 2 && head.length + tail.length > 7) throw new AddressError(`${text} has too many groups for "::"`);
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** RFC 5952 text of 16 bytes: lower case, no leading zeros, the longest zero run compressed. */
export function formatIpv6(bytes: Uint8Array): string {
  ensureBytes('address', bytes, 16);
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[2 * i] as number) << 8) | (bytes[2 * i + 1] as number));
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/** The canonical text of an IPv6 address. */
export function normaliseIpv6(text: string): string {
  return formatIpv6(parseIpv6(text));
}

/** True for an address in 400::/7, the Mycelium overlay range (first byte 0x04 or 0x05). */
export function isMyceliumBytes(bytes: Uint8Array): boolean {
  ensureBytes('address', bytes, 16);
  return ((bytes[0] as number) & 0xfe) === 0x04;
}

/** True when `text` parses as an IPv6 address in 400::/7. IPv4 and IPv4-mapped forms are not. */
export function isMyceliumAddress(text: unknown): boolean {
  try {
    return isMyceliumBytes(parseIpv6(text));
  } catch {
    return false;
  }
}

/** A Mycelium address, normalised, with the /64 it belongs to. */
export interface MyceliumAddress {
  /** Canonical RFC 5952 text. */
  readonly address: string;
  /** The /64 subnet in CIDR text, e.g. "570:75b1:b695:5ed7::/64". */
  readonly subnet: string;
  readonly bytes: Uint8Array;
}

/** Parses and checks a Mycelium address; AddressError says why one is refused. */
export function parseMyceliumAddress(text: unknown): MyceliumAddress {
  const bytes = parseIpv6(text);
  if (!isMyceliumBytes(bytes)) {
    const shown = formatIpv6(bytes);
    const mapped = shown.startsWith('::ffff:') ? ' (an IPv4-mapped address)' : '';
    throw new AddressError(`${shown}${mapped} is outside 400::/7, the Mycelium range`);
  }
  return { address: formatIpv6(bytes), subnet: subnet64Of(bytes), bytes };
}

/** The /64 around an address, in CIDR text: Mycelium authenticates the /64, not the address. */
export function subnet64Of(bytes: Uint8Array): string {
  ensureBytes('address', bytes, 16);
  const prefix = new Uint8Array(16);
  prefix.set(bytes.subarray(0, 8));
  return `${formatIpv6(prefix)}/64`;
}

/** The /64 of an address given as text. */
export function subnet64(text: string): string {
  return subnet64Of(parseIpv6(text));
}

/** Parses "prefix/64" CIDR text into its 8 prefix bytes; AddressError if not a /64 on 400::/7. */
export function parseSubnet64(text: unknown): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('subnet must be a string');
  const m = /^(.+)\/64$/.exec(text.trim());
  if (!m) throw new AddressError(`${JSON.stringify(text)} is not a /64 in CIDR form ("…::/64")`);
  const bytes = parseIpv6(m[1]);
  if (!isMyceliumBytes(bytes)) throw new AddressError(`${text} is outside 400::/7`);
  if (bytes.subarray(8).some((b) => b !== 0)) throw new AddressError(`${text} has host bits set`);
  return bytes.slice(0, 8);
}

/**
 * The one text form of a /64 ("4a1::/64" for "4A1:0:0:0::/64"), so /64s from the config,
 * admin approvals, `--allow` and socket addresses compare as equal strings. AddressError for
 * anything parseSubnet64 refuses.
 */
export function normaliseSubnet64(text: unknown): string {
  const prefix = new Uint8Array(16);
  prefix.set(parseSubnet64(text));
  return `${formatIpv6(prefix)}/64`;
}

/** True when two /64 texts name the same /64 (either may be in any valid text form; false if one is not a /64). */
export function sameSubnet64(a: string, b: string): boolean {
  try {
    return normaliseSubnet64(a) === normaliseSubnet64(b);
  } catch {
    return false;
  }
}

/**
 * True when `address` is an address inside the /64 `subnet` (both as text): a VM that an agent
 * reports must sit in its node's /64.
 */
export function isInSubnet64(address: string, subnet: string): boolean {
  try {
    return subnet64(address) === normaliseSubnet64(subnet);
  } catch {
    return false;
  }
}

/**
 * The Mycelium overlay address of an X25519 node public key (mycelium v0.7 `Subnet`):
 * the first 16 bytes of blake3(publicKey), with byte 0 set to 0x04 | (popcount(byte 0) & 1).
 */
export function myceliumAddressOfKey(x25519PublicKey: Uint8Array): string {
  ensureBytes('x25519PublicKey', x25519PublicKey, 32);
  const h = blake3(x25519PublicKey).slice(0, 16);
  h[0] = 0x04 | (popcount(h[0] as number) & 1);
  return formatIpv6(h);
}

function popcount(byte: number): number {
  let n = 0;
  for (let b = byte; b; b >>= 1) n += b & 1;
  return n;
}

/**
 * A grid VM's Mycelium address: the /64 prefix of its network, then ff0f, then a 6-byte seed
 * (threefoldtech/zos: VM mycelium IPs are `prefix + ff0f + seed`).
 */
export function vmAddress(subnetPrefix: Uint8Array, seed: Uint8Array): string {
  ensureBytes('subnetPrefix', subnetPrefix, 8);
  ensureBytes('seed', seed, 6);
  const bytes = new Uint8Array(16);
  bytes.set(subnetPrefix, 0);
  bytes[8] = 0xff;
  bytes[9] = 0x0f;
  bytes.set(seed, 10);
  return formatIpv6(bytes);
}
