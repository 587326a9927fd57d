// Database URLs as they may be shown: the password replaced, so logs and error messages never carry it.

/**
 * `postgres://user:secret@host/db` → `postgres://user:***@host/db`; a `password=` query parameter is
 * masked too. Written with patterns, not `new URL`, because libpq URLs such as
 * `postgresql://user@/db?host=/run/sock` (an empty host: a Unix socket) are not WHATWG URLs.
 */
export function redactDatabaseUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/?#]*:)[^@/?#]*@/i, '$1***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
}
