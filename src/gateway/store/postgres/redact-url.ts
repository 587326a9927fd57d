// Database URLs as they may be shown: the password replaced, so logs and error messages never carry it.

/**
 * `postgres://user:secret@host/db` → `postgres://user:***@host/db`; a `password=` query parameter is
 * masked too. Text that does not parse as a URL is replaced whole (it might be a password typed wrongly).
 */
export function redactDatabaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(an unparsable database URL)';
  }
  if (parsed.password !== '') parsed.password = '***';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
  return parsed.toString();
}
