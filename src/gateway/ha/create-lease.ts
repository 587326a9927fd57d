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

/** A lease, and the fence a shared store's writes check (undefined for the embedded store, which needs none). */
export interface GatewayLease {
  readonly lease: Lease & { resign?(reason: string): Promise<void> };
  readonly fence?: WriteFence<FenceQueryable>;
}

/**
 * The holder is this gateway's URL plus a nonce drawn at each start: a restarted process is a new
 * holder, so it never renews the lease a dead (or paused) copy of itself held, and comes back under a
 * new token after reloading state.
 */
export function createLease(ha: HaConfig, url: string, log: Logger): GatewayLease {
  if (ha.databaseUrl === undefined) return { lease: new AlwaysActiveLease(url) };
  const ttlMs = leaseTtlMs(ha.takeoverMs);
  const keeper = new LeaseKeeper({
    store: new PgLeaseStore({ url: ha.databaseUrl, timeoutMs: leaseRoundMs(ttlMs) }),
    claim: { holder: `${url}#${randomBytes(6).toString('hex')}`, url },
    ttlMs,
    clock: new SystemClock(),
    onLog: (message) => log.warn(message),
  });
  return { lease: keeper, fence: new LeaseFence(keeper) };
}
