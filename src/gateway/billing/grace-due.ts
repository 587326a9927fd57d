// What a customer whose funds ran out must pay, and by when: the arrears plus the deposit that keeps their VMs up for the deposit period.
import { HOUR_MS } from '../../protocol/clock.js';
import { formatAmount, parseAmount } from '../../protocol/money.js';
import type { DeploymentRecord } from '../store/records.js';

/** A customer's shortfall: what to add to the agreement so every VM runs (again) and keeps running. */
export interface FundsDue {
  /** Unpaid charges; paid first, oldest first, when funds arrive. */
  readonly arrearsMicros: bigint;
  /** The deposit of the customer's running VMs: their price for `keepUpMs`, each rounded up to a micro-unit. */
  readonly keepUpMicros: bigint;
  /** The period `keepUpMicros` pays for (the billing deposit, 24 h by default). */
  readonly keepUpMs: number;
  /** What the agreement already holds. */
  readonly availableMicros: bigint;
  /** arrears + keep-up - available, never below zero: the amount to add now. */
  readonly dueMicros: bigint;
  /** Deployments in grace, and the earliest moment one of them is deprovisioned unless funded. */
  readonly inGrace: readonly string[];
  readonly deprovisionAtMs?: number;
}

/** The price of a deployment for `ms`, rounded up to a micro-unit (the order deposit's rule, per VM). */
export function depositFor(pricePerHour: string, ms: number): bigint {
  const num = parseAmount('pricePerHour', pricePerHour) * BigInt(Math.round(ms));
  const den = BigInt(HOUR_MS);
  return (num + den - 1n) / den;
}

/**
 * The customer's shortfall. Running VMs (active or in grace) need their deposit for `keepUpMs`
 * on top of the arrears: paying only the arrears resumes a paused VM until the next period's
 * charge is refused again, which is what a customer must be told before they pay.
 */
export function fundsDue(input: { readonly customer: string; readonly deployments: readonly DeploymentRecord[]; readonly availableMicros: bigint; readonly arrearsMicros: bigint; readonly keepUpMs: number }): FundsDue {
  let keepUpMicros = 0n;
  const inGrace: string[] = [];
  let deprovisionAtMs: number | undefined;
  for (const d of input.deployments) {
    if (d.customer !== input.customer || (d.state !== 'active' && d.state !== 'grace')) continue;
    keepUpMicros += depositFor(d.pricePerHour, input.keepUpMs);
    if (d.state === 'grace') {
      inGrace.push(d.id);
      if (d.graceUntilMs !== undefined && (deprovisionAtMs === undefined || d.graceUntilMs < deprovisionAtMs)) deprovisionAtMs = d.graceUntilMs;
    }
  }
  const need = input.arrearsMicros + keepUpMicros - input.availableMicros;
  return {
    arrearsMicros: input.arrearsMicros,
    keepUpMicros,
    keepUpMs: input.keepUpMs,
    availableMicros: input.availableMicros,
    dueMicros: need > 0n ? need : 0n,
    inGrace,
    ...(deprovisionAtMs !== undefined ? { deprovisionAtMs } : {}),
  };
}

/** Hours as a person reads them: "24", "1.5". */
function hoursText(ms: number): string {
  return String(Math.round((ms / HOUR_MS) * 100) / 100);
}

/** A shortfall as the API (`toPay`) and the customer page show it: decimal strings, ISO times. */
export interface FundsDueView {
  /** The amount to add now. */
  readonly pay: string;
  readonly unit: string;
  readonly arrears: string;
  readonly keepUp: { readonly hours: number; readonly amount: string };
  readonly available: string;
  /** When the first VM in grace is deprovisioned unless funded. */
  readonly by?: string;
  /** The deployments in grace. */
  readonly deployments: readonly string[];
  readonly advice: string;
}

/** The amounts of a shortfall as the API shows them (decimal strings, ISO times). */
export function fundsDueView(due: FundsDue, unit: string): FundsDueView {
  return {
    pay: formatAmount(due.dueMicros),
    unit,
    arrears: formatAmount(due.arrearsMicros),
    keepUp: { hours: Number(hoursText(due.keepUpMs)), amount: formatAmount(due.keepUpMicros) },
    available: formatAmount(due.availableMicros),
    ...(due.deprovisionAtMs !== undefined ? { by: new Date(due.deprovisionAtMs).toISOString() } : {}),
    deployments: due.inGrace,
    advice: adviceOf(due, unit),
  };
}

/**
 * One sentence saying what to pay and by when, or what happens if nothing is paid. Empty when
 * nothing is due.
 */
export function adviceOf(due: FundsDue, unit: string): string {
  if (due.dueMicros === 0n) return '';
  const parts = [`${formatAmount(due.arrearsMicros)} ${unit} of arrears`, `${formatAmount(due.keepUpMicros)} ${unit} to keep your VMs up for ${hoursText(due.keepUpMs)} h`];
  const less = due.availableMicros > 0n ? `, less the ${formatAmount(due.availableMicros)} ${unit} the agreement holds` : '';
  const what = `pay ${formatAmount(due.dueMicros)} ${unit} into your agreement (${parts.join(' plus ')}${less})`;
  if (due.inGrace.length > 0) {
    const by = due.deprovisionAtMs !== undefined ? ` before ${new Date(due.deprovisionAtMs).toISOString()}, when ${due.inGrace.length === 1 ? 'it is' : 'the first is'} deprovisioned` : '';
    return `${due.inGrace.length} VM(s) are in grace: ${what}${by}. Paying only the arrears ends grace until the next period's charge is refused.`;
  }
  if (due.arrearsMicros > 0n) return `charges are unpaid: ${what}.`;
  return `your VMs will run out of funds within ${hoursText(due.keepUpMs)} h: ${what} to keep them up that long.`;
}
