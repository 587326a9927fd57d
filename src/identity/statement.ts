// Domain-separated signed statements: every signed byte string names its purpose first.
import { canonicalJsonBytes } from './canonical-json.js';
import { sign, verify } from './ed25519.js';
import { ensureBytes, utf8 } from './bytes.js';

/**
 * A purpose tag, `hypha/<name>/v<n>`. JSON statements carry it as their `purpose` field;
 * text statements carry it as their first line. JSON begins with "{" and text with
 * "hypha/", and two different tags never share bytes, so a signature made for one purpose
 * never verifies as another.
 */
export type Purpose = `hypha/${string}/v${number}`;

const PURPOSE = /^hypha\/[a-z][a-z0-9-]*\/v[1-9][0-9]*$/;

/** Checks a purpose tag; RangeError naming it otherwise. */
export function ensurePurpose(purpose: unknown): Purpose {
  if (typeof purpose !== 'string' || !PURPOSE.test(purpose)) {
    throw new RangeError(`purpose must look like "hypha/<name>/v<n>", got ${JSON.stringify(purpose)}`);
  }
  return purpose as Purpose;
}

/** The bytes signed for a JSON statement: canonical JSON of `body` with `purpose` added. */
export function jsonStatementBytes(purpose: Purpose, body: Record<string, unknown>): Uint8Array {
  ensurePurpose(purpose);
  if ('purpose' in body && body.purpose !== purpose) {
    throw new RangeError(`body.purpose is ${JSON.stringify(body.purpose)}, but the statement is for ${purpose}`);
  }
  return canonicalJsonBytes({ ...body, purpose });
}

/** The text of a text statement: the purpose line, then one `key: value` line per field. */
export function textStatement(purpose: Purpose, fields: ReadonlyArray<readonly [string, string]>): string {
  ensurePurpose(purpose);
  const lines: string[] = [purpose];
  for (const [key, value] of fields) {
    if (!/^[a-z][a-z0-9-]*$/.test(key)) throw new RangeError(`statement field name ${JSON.stringify(key)} is not lower-case-kebab`);
    if (/[\r\n]/.test(value)) throw new RangeError(`statement field ${key} must be one line`);
    lines.push(`${key}: ${value}`);
  }
  return lines.join('\n') + '\n';
}

/** Parses a text statement back into its purpose and fields; null if it is not one. */
export function parseTextStatement(text: string): { purpose: Purpose; fields: Map<string, string> } | null {
  if (!text.endsWith('\n')) return null;
  const lines = text.slice(0, -1).split('\n');
  const purpose = lines.shift();
  if (purpose === undefined || !PURPOSE.test(purpose)) return null;
  const fields = new Map<string, string>();
  for (const line of lines) {
    const m = /^([a-z][a-z0-9-]*): (.*)$/.exec(line);
    if (!m || fields.has(m[1] as string)) return null;
    fields.set(m[1] as string, m[2] as string);
  }
  return { purpose: purpose as Purpose, fields };
}

/** Signs a JSON statement for `purpose`. */
export function signJsonStatement(secretKey: Uint8Array, purpose: Purpose, body: Record<string, unknown>): Uint8Array {
  return sign(secretKey, jsonStatementBytes(purpose, body));
}

/** Verifies a JSON statement's signature for `purpose`; false if it was signed for anything else. */
export function verifyJsonStatement(
  signature: Uint8Array,
  purpose: Purpose,
  body: Record<string, unknown>,
  publicKey: Uint8Array,
): boolean {
  ensureBytes('signature', signature, 64);
  return verify(signature, jsonStatementBytes(purpose, body), publicKey);
}

/** Signs a text statement (the bytes of its UTF-8 text). */
export function signTextStatement(secretKey: Uint8Array, text: string): Uint8Array {
  if (!parseTextStatement(text)) throw new RangeError('text is not a hypha text statement (purpose line first)');
  return sign(secretKey, utf8(text));
}
