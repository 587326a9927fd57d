// The charge for a period: price per hour x up-seconds / 3600 in micro-units, split exactly between farmer and marketplace.

/** Seconds in a billed hour. */
export const SECONDS_PER_HOUR = 3600n;
/** Basis points in a whole (100%). */
export const BPS_WHOLE = 10_000n;

/** A period's charge and its split; farmerShareMicros + feeMicros === amountMicros, always. */
export interface Charge {
  readonly amountMicros: bigint;
  readonly farmerShareMicros: bigint;
  readonly feeMicros: bigint;
}

/**
 * The charge for `upSeconds` of a VM priced `pricePerHourMicros`.
 * Rounding rule: the amount is rounded DOWN to a whole micro-unit (a customer never pays for
 * a fraction of a micro-unit); the farmer's share is the amount x share, rounded down; the
 * marketplace fee is the rest. Exact integer arithmetic on bigint: no overflow, no floats.
 */
export function computeCharge(pricePerHourMicros: bigint, upSeconds: number, farmerShareBps: number): Charge {
  if (pricePerHourMicros < 0n) throw new RangeError('pricePerHourMicros must not be negative');
  if (!Number.isSafeInteger(upSeconds) || upSeconds < 0) throw new RangeError(`upSeconds must be a non-negative integer, got ${upSeconds}`);
  if (!Number.isInteger(farmerShareBps) || farmerShareBps < 0 || farmerShareBps > 10_000) {
    throw new RangeError(`farmerShareBps must be an integer from 0 to 10000, got ${farmerShareBps}`);
  }
  const amountMicros = (pricePerHourMicros * BigInt(upSeconds)) / SECONDS_PER_HOUR;
  const farmerShareMicros = (amountMicros * BigInt(farmerShareBps)) / BPS_WHOLE;
  return { amountMicros, farmerShareMicros, feeMicros: amountMicros - farmerShareMicros };
}
