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

/** A `postgres://` or `postgresql://` URL; the message says what is wrong without repeating it. */
function databaseUrl(v: unknown, field: string): string {
  const s = expectString(v, field, { maxLength: 4096 });
  let parsed: URL;
  try {
    parsed = new URL(s);
  } catch {
    throw new ValidationError(field, 'must be a URL like postgres://user:password@host:5432/database (it does not parse)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw new ValidationError(field, `must start with postgres:// or postgresql://, not ${parsed.protocol}//`);
  return s;
}
