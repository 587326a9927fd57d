// Canonical JSON, the byte form hypha signs: sorted keys, no whitespace, only values that round-trip.

/** A value that cannot be put in canonical JSON; `path` says where it is. */
export class CanonicalJsonError extends TypeError {
  constructor(readonly path: string, reason: string) {
    super(`canonical JSON: ${path}: ${reason}`);
    this.name = 'CanonicalJsonError';
  }
}

/**
 * The canonical JSON text of `value`: object keys sorted by UTF-16 code units (as RFC 8785
 * sorts them), no whitespace. Refused, with the path of the offending value: undefined,
 * functions, symbols, bigints, non-finite numbers, -0, integers beyond 2^53, lone UTF-16
 * surrogates (they do not survive UTF-8), sparse arrays, and objects other than plain ones.
 * Whatever it accepts parses back to an equal value.
 */
export function canonicalJson(value: unknown): string {
  try {
    return fastWrite(value);
  } catch (err) {
    if (err !== REFUSED) throw err;
    // The writer with paths finds the same problem again and says where it is.
    return write(value, '$');
  }
}

/** Thrown (and caught above) when the fast writer meets anything it does not take; made once, so throwing it costs no stack trace. */
const REFUSED = new Error('canonical JSON: not on the fast path');

/**
 * `write` without the path of every value (bench/billing: building those strings made
 * canonical JSON a third of a 100k-receipt close). The same checks, the same output; a refusal
 * throws REFUSED and the caller lets `write` name it.
 */
function fastWrite(value: unknown): string {
  switch (typeof value) {
    case 'string':
      if (!(value as WellFormedString).isWellFormed()) throw REFUSED;
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value) || Object.is(value, -0) || (Number.isInteger(value) && !Number.isSafeInteger(value))) throw REFUSED;
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) throw REFUSED;
          out += (i === 0 ? '' : ',') + fastWrite(value[i]);
        }
        return out + ']';
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw REFUSED;
      const keys = Object.keys(value).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        if (!(key as WellFormedString).isWellFormed()) throw REFUSED;
        out += (i === 0 ? '' : ',') + JSON.stringify(key) + ':' + fastWrite((value as Record<string, unknown>)[key]);
      }
      return out + '}';
    }
    default:
      throw REFUSED;
  }
}

function write(value: unknown, path: string): string {
  switch (typeof value) {
    case 'string':
      checkString(value, path);
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(path, `${value} is not a finite number`);
      if (Object.is(value, -0)) throw new CanonicalJsonError(path, '-0 does not survive a round trip');
      if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
        throw new CanonicalJsonError(path, `${value} is beyond 2^53; send big amounts as decimal strings`);
      }
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return writeArray(value, path);
      return writeObject(value as Record<string, unknown>, path);
    default:
      throw new CanonicalJsonError(path, `a ${typeof value} has no JSON form`);
  }
}

function writeArray(value: unknown[], path: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i++) {
    if (!(i in value)) throw new CanonicalJsonError(`${path}[${i}]`, 'sparse arrays do not survive a round trip');
    parts.push(write(value[i], `${path}[${i}]`));
  }
  return `[${parts.join(',')}]`;
}

function writeObject(value: Record<string, unknown>, path: string): string {
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    throw new CanonicalJsonError(path, 'only plain objects have a canonical form (not Date, Map, Buffer, …)');
  }
  const keys = Object.keys(value).sort();
  const parts: string[] = [];
  for (const key of keys) {
    checkString(key, `${path} key`);
    parts.push(`${JSON.stringify(key)}:${write(value[key], `${path}.${key}`)}`);
  }
  return `{${parts.join(',')}}`;
}

/** String.prototype.isWellFormed (ES2024, in Node 20); the project's lib setting is ES2023. */
type WellFormedString = string & { isWellFormed(): boolean };

function checkString(s: string, path: string): void {
  // The common case in one native call; the loop below only runs to say where a surrogate is lone.
  if ((s as WellFormedString).isWellFormed()) return;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      throw new CanonicalJsonError(path, 'lone UTF-16 surrogate');
    }
    if (c >= 0xdc00 && c <= 0xdfff) throw new CanonicalJsonError(path, 'lone UTF-16 surrogate');
  }
}

const encoder = new TextEncoder();

/** The UTF-8 bytes of canonicalJson(value). */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value));
}
