// kindOf: the one wording every "must be X, got Y" message uses for the Y of an unexpected value.

/**
 * What sort of value `value` is, as a short phrase for an error message ("a string", "an array",
 * "null"); it never echoes the value itself, so a secret passed by mistake stays out of the message.
 */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return 'a number';
  return typeof value;
}
