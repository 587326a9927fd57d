// Picks the gateway's lease: the PostgreSQL lease when the config names a database, else the embedded store's always-active one.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { HaConfig } from './ha-config.js';
import { AlwaysActiveLease } from './always-active-lease.js';
import { LeaseFence } from './lease-fence.js';
import { leaseTtlMs } from './lease-rules.js';
import type { Lease } from './lease.js';
import { storeApplicationName } from './holder-connections.js';
import { WorkerLease } from './worker-lease.js';

/** A lease, and the fence a shared store's writes check (undefined for the embedded store, which needs none). */
export interface GatewayLease {
  readonly lease: Lease & { resign?(reason: string, term: number): Promise<void> };
  /** Each active term opens its store with `fence.forTerm(term)`. */
  readonly fence?: LeaseFence;
  /** The store connections' `application_name` (this process's holder), with the fence. */
  readonly applicationName?: string;
}

/**
 * The holder is this gateway's URL plus a nonce drawn at each start: a restarted process is a new
 * holder, so it never renews the lease a dead (or paused) copy of itself held, and comes back under a
 * new token after reloading state.
 */
export function createLease(ha: HaConfig, url: string, log: Logger): GatewayLease {
  if (ha.databaseUrl === undefined) return { lease: new AlwaysActiveLease(url) };
  const ttlMs = leaseTtlMs(ha.takeoverMs);
  const holder = `${url}#${randomBytes(6).toString('hex')}`;
  // Kept by a worker thread with its own connection (src/gateway/ha/lease-worker.ts), renewing while this thread stamps that it runs.
  const lease = new WorkerLease({ databaseUrl: ha.databaseUrl, claim: { holder, url }, ttlMs, stallMs: ha.stallMs, onLog: (message) => log.warn(message) });
  return { lease, fence: new LeaseFence(lease), applicationName: storeApplicationName(holder) };
}
