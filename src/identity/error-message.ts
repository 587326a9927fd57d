// errorMessage: the text of anything a `catch` receives, which TypeScript types as unknown.

/**
 * The message of `err` when it is an Error, otherwise `err` as a string: a library may reject
 * with a string or a plain object, and a cast to Error would read an undefined message.
 */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
