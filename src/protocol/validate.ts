// Validation of untrusted JSON: each check names the field it refuses, so a 4xx can say what to fix.
import { errorMessage } from '../identity/error-message.js';
import { decodeAgentPubKey, kindOf, normaliseSubnet64 } from '../identity/index.js';

/** A field of untrusted input that is missing or wrong; `field` is a dotted path such as "sshKeys[2]". */
export class ValidationError extends Error {
  constructor(readonly field: string, message: string, readonly hint?: string) {
    super(`${field}: ${message}`);
    this.name = 'ValidationError';
  }
}

/** A plain JSON object, or ValidationError naming `field`. */
export function expectObject(value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(field, `must be a JSON object, got ${kindOf(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Refuses keys other than `allowed`, so a typo ("sshkeys") is an error rather than ignored. */
export function expectOnlyKeys(obj: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new ValidationError(field === '' ? key : `${field}.${key}`, `is not a known field (expected ${allowed.map((k) => `"${k}"`).join(', ')})`);
    }
  }
}

/** Options for expectString. */
export interface StringRule {
  readonly maxLength?: number;
  readonly minLength?: number;
  readonly pattern?: RegExp;
  /** Says what the pattern means, for the error message. */
  readonly patternName?: string;
}

/** A string field, or ValidationError naming `field`. */
export function expectString(value: unknown, field: string, rule: StringRule = {}): string {
  if (typeof value !== 'string') throw new ValidationError(field, `must be a string, got ${kindOf(value)}`);
  const min = rule.minLength ?? 1;
  if (value.length < min) throw new ValidationError(field, min === 1 ? 'must not be empty' : `must be at least ${min} characters`);
  if (rule.maxLength !== undefined && value.length > rule.maxLength) {
    throw new ValidationError(field, `must be at most ${rule.maxLength} characters, got ${value.length}`);
  }
  if (rule.pattern && !rule.pattern.test(value)) throw new ValidationError(field, `must be ${rule.patternName ?? `like ${rule.pattern.source}`}`);
  return value;
}

/** An optional string field (undefined when absent). */
export function optionalString(value: unknown, field: string, rule: StringRule = {}): string | undefined {
  return value === undefined ? undefined : expectString(value, field, rule);
}

/** An integer field within [min, max]. */
export function expectInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new ValidationError(field, `must be an integer, got ${kindOf(value)}`);
  if (value < min || value > max) throw new ValidationError(field, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** A finite number field within [min, max]. */
export function expectNumber(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ValidationError(field, `must be a number, got ${kindOf(value)}`);
  if (value < min || value > max) throw new ValidationError(field, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** A boolean field. */
export function expectBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new ValidationError(field, `must be true or false, got ${kindOf(value)}`);
  return value;
}

/** An array field with between `min` and `max` items, each checked by `item`. */
export function expectArray<T>(value: unknown, field: string, min: number, max: number, item: (v: unknown, field: string) => T): T[] {
  if (!Array.isArray(value)) throw new ValidationError(field, `must be an array, got ${kindOf(value)}`);
  if (value.length < min) throw new ValidationError(field, min === 1 ? 'must not be empty' : `must have at least ${min} items`);
  if (value.length > max) throw new ValidationError(field, `must have at most ${max} items, got ${value.length}`);
  return value.map((v, i) => item(v, `${field}[${i}]`));
}

/** An AgentPubKey field ("uhCAk…", location bytes checked), or ValidationError naming `field`. */
export function expectAgentPubKey(value: unknown, field: string): string {
  const text = expectString(value, field, { maxLength: 64 });
  try {
    decodeAgentPubKey(text);
  } catch (err) {
    throw new ValidationError(field, `is not a valid AgentPubKey: ${errorMessage(err)}`, 'an AgentPubKey looks like "uhCAk…" (53 characters); `hypha id show --key FILE` prints yours');
  }
  return text;
}

/**
 * A Mycelium /64 field in CIDR form ("4a1:…::/64"), returned in its one normal text form
 * (normaliseSubnet64), or ValidationError naming `field`.
 */
export function expectSubnet64(value: unknown, field: string): string {
  const text = expectString(value, field, { maxLength: 64 });
  try {
    return normaliseSubnet64(text);
  } catch (err) {
    throw new ValidationError(field, errorMessage(err));
  }
}
