// Links inside the admin status page: ids come from callers and the store, so each path segment is URL-encoded.

/** A path under /admin with each segment URL-encoded (ids come from callers and the store, never trusted as markup or path). */
export function adminPath(...segments: string[]): string {
  return ['/admin', ...segments.map((s) => encodeURIComponent(s))].join('/');
}
