// The farmer's bid pricing policy: a price per vCPU, GB of RAM and GB of disk per hour, a margin and a floor (a pure function of the request).
import type { Capacity } from '../../protocol/offer.js';

/**
 * What a farmer charges, in micro-units per hour (akash's bid engine prices the same way: a
 * scale per resource unit, summed; here with a margin on top and a floor under it).
 */
export interface PricingPolicy {
  readonly perCpuHourMicros: bigint;
  readonly perGbRamHourMicros: bigint;
  readonly perGbDiskHourMicros: bigint;
  /** No bid is ever below this, whatever the size. */
  readonly floorPerHourMicros: bigint;
  /** The farmer's margin on the resource cost, in basis points (1,000 = 10 %). */
  readonly marginBps: number;
}

/** The policy's answer: a price, or why there is no bid. */
export type PriceDecision = { readonly kind: 'bid'; readonly pricePerHourMicros: bigint } | { readonly kind: 'no-bid'; readonly reason: string };

/**
 * The hourly price of `size` under `policy`: the resource cost, plus the margin (rounded up to a
 * micro-unit, so a margin never rounds down to nothing), at least the floor. No bid when that is
 * above what the customer will pay.
 */
export function priceRequest(policy: PricingPolicy, size: Capacity, maxPerHourMicros: bigint): PriceDecision {
  const cost = BigInt(size.cpu) * policy.perCpuHourMicros + BigInt(size.memoryGb) * policy.perGbRamHourMicros + BigInt(size.diskGb) * policy.perGbDiskHourMicros;
  const withMargin = (cost * BigInt(10_000 + policy.marginBps) + 9_999n) / 10_000n;
  const price = withMargin > policy.floorPerHourMicros ? withMargin : policy.floorPerHourMicros;
  if (price > maxPerHourMicros) return { kind: 'no-bid', reason: `the policy's price ${price} micro-units/h is above the request's maximum ${maxPerHourMicros}` };
  return { kind: 'bid', pricePerHourMicros: price };
}
