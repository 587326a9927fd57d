// errorMessage: the text of anything a `catch` receives, which TypeScript types as unknown.

/**
 * The message of `err` when it is an Error, otherwise `err` as a string: a library may reject
 * with a string or a plain object, and `(err as Error).message` would then be undefined.
 */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
