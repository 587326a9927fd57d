// The agent's `bidding` config: its pricing policy, or a command of the farmer's own that prices each request.
import { parseAmount, AmountError } from '../../protocol/money.js';
import { ValidationError, expectArray, expectInteger, expectNumber, expectObject, expectOnlyKeys, expectString } from '../../protocol/validate.js';
import type { PricingPolicy } from './pricing-policy.js';

/** How the agent bids on capacity requests. */
export interface BiddingConfig {
  readonly policy: PricingPolicy;
  /** argv of a command that reads the request as JSON on stdin and prints {"pricePerHour": "…"} (or null: no bid); replaces the policy. */
  readonly command?: readonly string[];
  /** How long a bid holds at most (clock ms); never past the request's own expiry. */
  readonly validMs: number;
}

/** Reads `config.bidding`; undefined when absent (the agent does not bid). */
export function parseBiddingConfig(v: unknown): BiddingConfig | undefined {
  if (v === undefined) return undefined;
  const f = 'config.bidding';
  const o = expectObject(v, f);
  expectOnlyKeys(o, ['perCpuHour', 'perGbRamHour', 'perGbDiskHour', 'floorPerHour', 'marginPercent', 'command', 'validMinutes'], f);
  const amount = (key: string): bigint => {
    if (o[key] === undefined) return 0n;
    try {
      return parseAmount(`${f}.${key}`, o[key]);
    } catch (err) {
      if (err instanceof AmountError) throw new ValidationError(`${f}.${key}`, err.message.replace(`${f}.${key}: `, ''));
      throw err;
    }
  };
  return {
    policy: {
      perCpuHourMicros: amount('perCpuHour'),
      perGbRamHourMicros: amount('perGbRamHour'),
      perGbDiskHourMicros: amount('perGbDiskHour'),
      floorPerHourMicros: amount('floorPerHour'),
      marginBps: o.marginPercent === undefined ? 0 : Math.round(expectNumber(o.marginPercent, `${f}.marginPercent`, 0, 1000) * 100),
    },
    ...(o.command === undefined ? {} : { command: expectArray(o.command, `${f}.command`, 1, 32, (x, k) => expectString(x, k, { maxLength: 4096 })) }),
    validMs: 60_000 * (o.validMinutes === undefined ? 60 : expectInteger(o.validMinutes, `${f}.validMinutes`, 1, 7 * 1440)),
  };
}
