// What a lab gateway has stored, read from whichever store the lab runs on (db.json, or the lab's PostgreSQL server).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestLab } from './lab.js';
import { sql } from './pg-sql.js';

/** A stored link as the tests look at it. */
export interface StoredLink {
  agent: string;
  statement: string;
  signature: string;
  nonce: string;
}

/** The URL of the lab gateway's PostgreSQL store, or undefined on the embedded store. */
function postgresUrl(lab: TestLab): string | undefined {
  if (lab.state().store !== 'postgres') return undefined;
  const config = JSON.parse(readFileSync(join(lab.dir, 'gateway', 'config.json'), 'utf8')) as { store?: { url?: string } };
  if (!config.store?.url) throw new Error('a postgres lab without a store URL in its gateway config');
  return config.store.url;
}

/** The gateway's links by /64, as committed: the `links` of db.json or the rows of the `links` table. */
export async function storedLinks(lab: TestLab): Promise<Record<string, StoredLink>> {
  const url = postgresUrl(lab);
  if (url === undefined) {
    return (JSON.parse(readFileSync(join(lab.dir, 'gateway', 'data', 'db.json'), 'utf8')) as { links: Record<string, StoredLink> }).links;
  }
  const rows = await sql<{ key: string; value: StoredLink }>(url, 'SELECT key, value FROM links ORDER BY key');
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}

/** The gateway's live records (links, agents, orders, deployments, chains, meta) as one text, to search for what is or is not kept. */
export async function storedRecordsText(lab: TestLab): Promise<string> {
  const url = postgresUrl(lab);
  if (url === undefined) return readFileSync(join(lab.dir, 'gateway', 'data', 'db.json'), 'utf8');
  const tables = ['links', 'agents', 'orders', 'deployments', 'chains', 'meta'];
  const parts: string[] = [];
  for (const table of tables) {
    for (const row of await sql<{ key: string; value: unknown }>(url, `SELECT key, value FROM ${table} ORDER BY key`)) parts.push(`${table} ${row.key} ${JSON.stringify(row.value)}`);
  }
  return parts.join('\n');
}
