// Which backend keeps the gateway's state: the embedded files (default) or a PostgreSQL database, checked field by field.
import { ValidationError, expectObject, expectOnlyKeys, expectString } from '../../protocol/validate.js';

/** Where the gateway keeps its state. `url` carries the password: show it only through redactDatabaseUrl. */
export type StoreConfig = { readonly kind: 'embedded' } | { readonly kind: 'postgres'; readonly url: string };

/** The environment variable that names the database (keeps the password out of the config file). */
export const DATABASE_URL_ENV = 'HYPHA_DATABASE_URL';

/**
 * `config.store`: `{"kind": "embedded"}` (the default) or `{"kind": "postgres", "url": "postgres://…"}`.
 * `envUrl` (HYPHA_DATABASE_URL) supplies the URL when the config's postgres store has none, and chooses
 * PostgreSQL when the config names no store at all. Error messages never quote the URL.
 */
export function parseStoreConfig(v: unknown, envUrl: string | undefined): StoreConfig {
  const env = envUrl === undefined || envUrl === '' ? undefined : envUrl;
  if (v === undefined) return env === undefined ? { kind: 'embedded' } : { kind: 'postgres', url: databaseUrl(env, DATABASE_URL_ENV) };
  const o = expectObject(v, 'config.store');
  switch (o.kind) {
    case 'embedded':
      expectOnlyKeys(o, ['kind'], 'config.store');
      return { kind: 'embedded' };
    case 'postgres': {
      expectOnlyKeys(o, ['kind', 'url'], 'config.store');
      if (o.url !== undefined) return { kind: 'postgres', url: databaseUrl(o.url, 'config.store.url') };
      if (env !== undefined) return { kind: 'postgres', url: databaseUrl(env, DATABASE_URL_ENV) };
      throw new ValidationError('config.store.url', `is required for a postgres store (or set ${DATABASE_URL_ENV})`);
    }
    default:
      throw new ValidationError('config.store.kind', 'must be "embedded" or "postgres"');
  }
}

/** A `postgres://` or `postgresql://` URL (libpq's form: an empty host names a Unix socket via `?host=`). */
function databaseUrl(v: unknown, field: string): string {
  const s = expectString(v, field, { maxLength: 4096 });
  if (!/^postgres(ql)?:\/\//.test(s)) throw new ValidationError(field, 'must start with postgres:// or postgresql:// (e.g. postgres://user:password@host:5432/database)');
  if (/\s/.test(s)) throw new ValidationError(field, 'must not contain white space (percent-encode it: %20)');
  return s;
}
