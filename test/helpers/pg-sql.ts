// One query on its own connection, and a new database on a server: for tests and benches that look at PostgreSQL directly.
import pg from 'pg';

/** Runs one query on its own connection and answers its rows. */
export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text, values)).rows;
  } finally {
    await c.end();
  }
}

/** Creates the empty database `name` on the server at `serverUrl` (a URL naming the `hypha` database) and answers its URL. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  if (!/^[a-z0-9_]{1,63}$/i.test(name)) throw new Error(`createDatabase: ${JSON.stringify(name)} is not a plain database name`);
  await sql(serverUrl, `CREATE DATABASE "${name}"`);
  return serverUrl.replace('/hypha?', `/${name}?`);
}
