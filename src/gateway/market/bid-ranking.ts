// Which bid a customer sees first: the cheapest, then the farmer with the better up-time record on this gateway.
import { parseAmount } from '../../protocol/money.js';
import type { SignedBid } from '../../protocol/bid.js';

/** A farmer's record on this gateway, shown next to each of its bids. */
export interface FarmerRecord {
  /** Delivered up-time of the farmer's nodes over the recorded periods of the last 30 days, in basis points (10,000 = 100 %); null with no recorded period. */
  readonly upBps: number | null;
  /** Periods the figure covers. */
  readonly periods: number;
  /** Confirmed disagreements between the farmer's reports and the gateway's probes in the last 30 days. */
  readonly disputes: number;
}

/** A bid as the gateway holds it. */
export interface HeldBid {
  readonly bid: SignedBid;
  readonly receivedAtMs: number;
}

/**
 * Orders bids cheapest first; at one price, the better up-time first (no record last), then
 * fewer disputes, then the earlier bid, then the node id, so the order is total and stable.
 */
export function rankBids<T extends HeldBid>(bids: readonly T[], recordOf: (farmer: string) => FarmerRecord): T[] {
  const price = new Map(bids.map((b) => [b, parseAmount('bid.pricePerHour', b.bid.pricePerHour)]));
  return [...bids].sort((a, b) => {
    const pa = price.get(a) as bigint;
    const pb = price.get(b) as bigint;
    if (pa !== pb) return pa < pb ? -1 : 1;
    const ra = recordOf(a.bid.farmer);
    const rb = recordOf(b.bid.farmer);
    const ua = ra.upBps ?? -1;
    const ub = rb.upBps ?? -1;
    if (ua !== ub) return ub - ua;
    if (ra.disputes !== rb.disputes) return ra.disputes - rb.disputes;
    if (a.receivedAtMs !== b.receivedAtMs) return a.receivedAtMs - b.receivedAtMs;
    return a.bid.node.localeCompare(b.bid.node);
  });
}
