// Migration 2: the active lease's table (src/gateway/ha/lease-schema.ts), so a database's schema names every table the gateway uses.
import { LEASE_TABLE_SQL } from '../../../ha/lease-schema.js';

/** The schema version this step brings the database to. */
export const version = 2;

/** What the step does, recorded in schema_migrations. */
export const name = 'lease';

/**
 * The lease row (holder, URL, fencing token, expiry). Idempotent: the lease's own connection may
 * have created the table first (it starts before the store opens, and creates it if missing).
 */
export const sql = `${LEASE_TABLE_SQL};`;
