// Trust tiers: a customer's tier from their history with this gateway (paid hours, amount paid, how long, arrears), or an admin's choice (pure).
import { HOUR_MS } from '../../protocol/clock.js';
import { formatAmount, parseAmount } from '../../protocol/money.js';

/** One tier (config trust.tiers): what a customer must have done to be in it, and what it allows. */
export interface TrustTier {
  readonly name: string;
  /** Hours of VM up-time billed and paid (arrears not counted). */
  readonly minPaidHours: number;
  /** Micro-units paid in all. */
  readonly minPaidMicros: bigint;
  /** Time since the customer's first paid charge. */
  readonly minAgeMs: number;
  /** Most VMs at once: running, in grace, or ordered and not yet ended (unpaid orders count). */
  readonly maxVms: number;
  /** The deposit a new order needs: this much of the offer's price. */
  readonly depositMs: number;
}

/** A tier as the config holds it: plain JSON (the amount a decimal string, so the config serialises). */
export type TrustTierConfig = Omit<TrustTier, 'minPaidMicros'> & { readonly minPaid: string };

/** The tier the rule works on, from its config form. */
export function tierOf(config: TrustTierConfig): TrustTier {
  const { minPaid, ...rest } = config;
  return { ...rest, minPaidMicros: parseAmount('minPaid', minPaid) };
}

/** What the gateway knows of a customer's history. */
export interface TrustHistory {
  /** Up-seconds of paid charges, all deployments together. */
  readonly paidUpSeconds: number;
  readonly paidMicros: bigint;
  /** When the first paid charge's period started, or null before any. */
  readonly firstPaidAtMs: number | null;
  /** Unpaid charges now. */
  readonly arrearsMicros: bigint;
}

/** An admin's choice of tier for one customer (kept until cleared). */
export interface TrustOverride {
  readonly tier: string;
  readonly by: string;
  readonly atMs: number;
  readonly reason: string;
}

/** A customer's standing: the tier, why, and what the next tier needs. */
export interface TrustStanding {
  readonly tier: TrustTier;
  /** `history`: earned; `arrears`: held at the first tier while charges are unpaid; `admin`: set by hand. */
  readonly source: 'history' | 'arrears' | 'admin';
  /** What raises it, in words ("100 paid hours (you have 3)"), or null at the top. */
  readonly raisedBy: string | null;
  readonly paidHours: number;
}

/**
 * The customer's tier: an admin's override when it names a configured tier; else, with arrears,
 * the first tier (unpaid charges are the one history that must not buy more VMs); else the
 * highest tier whose every requirement the history meets. `tiers` is ordered, the first needing
 * nothing (config.ts checks both).
 */
export function trustStanding(history: TrustHistory, tiers: readonly TrustTier[], nowMs: number, override?: TrustOverride): TrustStanding {
  const paidHours = Math.floor(history.paidUpSeconds / 3600);
  const ageMs = history.firstPaidAtMs === null ? 0 : Math.max(0, nowMs - history.firstPaidAtMs);
  const meets = (t: TrustTier): boolean => paidHours >= t.minPaidHours && history.paidMicros >= t.minPaidMicros && ageMs >= t.minAgeMs;
  const first = tiers[0] as TrustTier;
  const chosen = override === undefined ? undefined : tiers.find((t) => t.name === override.tier);
  let index = 0;
  let source: TrustStanding['source'] = 'history';
  if (chosen !== undefined) {
    index = tiers.indexOf(chosen);
    source = 'admin';
  } else if (history.arrearsMicros > 0n) {
    source = 'arrears';
  } else {
    for (let i = tiers.length - 1; i > 0; i--) {
      if (meets(tiers[i] as TrustTier)) {
        index = i;
        break;
      }
    }
  }
  const tier = tiers[index] ?? first;
  const next = tiers[index + 1];
  let raisedBy: string | null = null;
  if (source === 'arrears') raisedBy = `paying your arrears (${formatAmount(history.arrearsMicros)}), then the history the next tier needs`;
  else if (source === 'admin') raisedBy = next === undefined ? null : 'an admin set this tier by hand; ask them';
  else if (next !== undefined) raisedBy = needsOf(next, paidHours, history.paidMicros, ageMs);
  return { tier, source, raisedBy, paidHours };
}

/** What `next` needs that the history does not yet have, in words. */
function needsOf(next: TrustTier, paidHours: number, paidMicros: bigint, ageMs: number): string {
  const parts: string[] = [];
  if (paidHours < next.minPaidHours) parts.push(`${next.minPaidHours} paid VM-hours (you have ${paidHours})`);
  if (paidMicros < next.minPaidMicros) parts.push(`${formatAmount(next.minPaidMicros)} paid in all (you have paid ${formatAmount(paidMicros)})`);
  if (ageMs < next.minAgeMs) parts.push(`${Math.ceil(next.minAgeMs / HOUR_MS)} h since your first paid hour (${Math.floor(ageMs / HOUR_MS)} h so far)`);
  return `tier "${next.name}" (${next.maxVms} VMs) needs ${parts.join(' and ')}`;
}
