// The schema migrations this code knows, in order: each is applied once, in its own transaction.
import * as core from './001-core.js';
import * as lease from './002-lease.js';
import * as moneyCheckpoint from './003-money-checkpoint.js';

/** One numbered schema step. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Every migration, by version; a new one is a new numbered module appended here. */
export const MIGRATIONS: readonly Migration[] = [core, lease, moneyCheckpoint];
