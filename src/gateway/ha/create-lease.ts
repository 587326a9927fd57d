// Picks the gateway's lease: the PostgreSQL lease when the config names a database, else the embedded store's always-active one.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { SystemClock } from '../../protocol/clock.js';
import type { HaConfig } from './ha-config.js';
import { AlwaysActiveLease } from './always-active-lease.js';
import { LeaseFence, type FenceQueryable } from './lease-fence.js';
import { LeaseKeeper } from './lease-keeper.js';
import { leaseRoundMs, leaseTtlMs } from './lease-rules.js';
import type { Lease } from './lease.js';
import type { WriteFence } from '../store/write-fence.js';
import { PgLeaseStore } from './pg-lease-store.js';
import { storeApplicationName } from './holder-connections.js';

/** A lease, and the fence a shared store's writes check (undefined for the embedded store, which needs none). */
export interface GatewayLease {
  readonly lease: Lease & { resign?(reason: string): Promise<void> };
  readonly fence?: WriteFence<FenceQueryable>;
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
  const keeper = new LeaseKeeper({
    // A round may take up to the ttl (a loaded host answers late, and a renewal asked in time is still
    // valid); the row lock is waited for one round at most, so a lapsed holder's open writes are seen.
    store: new PgLeaseStore({ url: ha.databaseUrl, timeoutMs: ttlMs, lockTimeoutMs: leaseRoundMs(ttlMs), holder }),
    claim: { holder, url },
    ttlMs,
    clock: new SystemClock(),
    onLog: (message) => log.warn(message),
  });
  return { lease: keeper, fence: new LeaseFence(keeper), applicationName: storeApplicationName(holder) };
}
