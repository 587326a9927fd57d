// The VM offer catalog's shape: what a customer can buy, sized like the grid's own tools.

/** One thing a customer can buy. Prices are per hour, in micro-units of `unit`. */
export interface Offer {
  readonly id: string;
  readonly cpu: number;
  readonly memoryGb: number;
  readonly diskGb: number;
  readonly pricePerHourMicros: bigint;
  readonly unit: string;
  /** The flist (VM image) grid deployments boot; agent-run VMs ignore it. */
  readonly flist?: string;
}

/** A node's capacity, in the same units offers use. */
export interface Capacity {
  readonly cpu: number;
  readonly memoryGb: number;
  readonly diskGb: number;
}

/** How many VMs of `offer` fit in `free` capacity. */
export function slotsFor(offer: Pick<Offer, 'cpu' | 'memoryGb' | 'diskGb'>, free: Capacity): number {
  return Math.max(0, Math.min(Math.floor(free.cpu / offer.cpu), Math.floor(free.memoryGb / offer.memoryGb), Math.floor(free.diskGb / offer.diskGb)));
}
