// The schema migrations this code knows, in order: each is applied once, in its own transaction.
import * as core from './001-core.js';
import * as lease from './002-lease.js';
import * as rowOrder from './003-row-order.js';
import * as requests from './004-requests.js';
import * as moneyCheckpoint from './005-money-checkpoint.js';
import * as moneyCheckpointBytes from './006-money-checkpoint-bytes.js';

/** One numbered schema step. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Every migration, by version; a new one is a new numbered module appended here. */
export const MIGRATIONS: readonly Migration[] = [core, lease, rowOrder, requests, moneyCheckpoint, moneyCheckpointBytes];
