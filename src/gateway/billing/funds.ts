// Runway and low funds: how long an agreement lasts at the current burn rate, and when to warn.
import type { Logger } from 'pino';
import { HOUR_MS, type Clock } from '../../protocol/clock.js';
import { formatAmount, parseAmount } from '../../protocol/money.js';
import type { EventSink } from '../events/event-log.js';
import { LedgerUnavailableError, type Ledger } from '../ledger/ledger.js';
import type { DeploymentRecord } from '../store/records.js';
import { fundsDue, type FundsDue } from './grace-due.js';

/** A customer's funding position. */
export interface Runway {
  /** Hours the agreement lasts at the current burn (absent when nothing runs). Not money: a plain number. */
  readonly runwayHours?: number;
  readonly lowFunds: boolean;
}

/** What a customer's running VMs cost per hour, in micro-units. */
export function burnPerHourMicros(deployments: readonly DeploymentRecord[], customer: string): bigint {
  let total = 0n;
  for (const d of deployments) if (d.customer === customer && (d.state === 'active' || d.state === 'grace')) total += parseAmount('pricePerHour', d.pricePerHour);
  return total;
}

/**
 * The runway rule: hours = available / burn per hour (to 1/100 h, rounded down); funds are low
 * when there are arrears (then there is no runway), or the runway is under `lowRunwayMs`
 * (default 24 hours).
 */
export function runwayOf(availableMicros: bigint, burnMicrosPerHour: bigint, arrearsMicros: bigint, lowRunwayMs: number): Runway {
  // With arrears the agreement is not paying for the VMs (they are in grace, paused by default):
  // a runway would promise hours the customer does not have.
  if (burnMicrosPerHour <= 0n || arrearsMicros > 0n) return { lowFunds: arrearsMicros > 0n };
  const runwayHours = Number((availableMicros * 100n) / burnMicrosPerHour) / 100;
  return { runwayHours, lowFunds: arrearsMicros > 0n || runwayHours * HOUR_MS < lowRunwayMs };
}

/** A customer's funds as the API shows them: balance, arrears, runway, and what is due. */
export interface FundsPosition {
  readonly availableMicros: bigint;
  readonly arrearsMicros: bigint;
  readonly runway: Runway;
  readonly due: FundsDue;
}

/** What reading a customer's funds needs. */
export interface FundsSources {
  readonly ledger: Pick<Ledger, 'balance'>;
  readonly lowRunwayMs: number;
  /** The billing deposit: what "keep the VMs up" pays for. */
  readonly depositMs: number;
  deployments(): readonly DeploymentRecord[];
  arrearsOf(customer: string): bigint;
}

/** The one rule every view of a customer's funds uses (/v1/balance, GET /, deployments, the fund answer, the admin counters). */
export function positionOf(src: Omit<FundsSources, 'ledger'>, customer: string, availableMicros: bigint): FundsPosition {
  const all = src.deployments();
  const arrearsMicros = src.arrearsOf(customer);
  return {
    availableMicros,
    arrearsMicros,
    runway: runwayOf(availableMicros, burnPerHourMicros(all, customer), arrearsMicros, src.lowRunwayMs),
    due: fundsDue({ customer, deployments: all, availableMicros, arrearsMicros, keepUpMs: src.depositMs }),
  };
}

/** Reads the customer's balance from the ledger (LedgerUnavailableError when it cannot) and applies positionOf. */
export async function readPosition(src: FundsSources, customer: string): Promise<FundsPosition> {
  return positionOf(src, customer, (await src.ledger.balance(customer)).availableMicros);
}

/** Keeps each running customer's low-funds state fresh, and notes when a customer's funds turn low. */
export class FundsWatch {
  private readonly low = new Set<string>();
  private lastRefreshRealMs = 0;

  constructor(
    private readonly deps: {
      readonly clock: Clock;
      readonly ledger: Pick<Ledger, 'balance'>;
      readonly events: EventSink;
      readonly log: Logger;
      readonly lowRunwayMs: number;
      readonly depositMs: number;
      deployments(): readonly DeploymentRecord[];
      arrearsOf(customer: string): bigint;
      /** Customers with unpaid charges (they count as low even when nothing runs any more). */
      customersInArrears(): Iterable<string>;
    },
  ) {}

  /** Customers whose funds are low. */
  lowFunds(): ReadonlySet<string> {
    return this.low;
  }

  /** Re-reads balances of customers with running VMs or arrears, at most once per `minIntervalRealMs`. */
  async refresh(minIntervalRealMs: number): Promise<void> {
    if (Date.now() - this.lastRefreshRealMs < minIntervalRealMs) return;
    this.lastRefreshRealMs = Date.now();
    const all = this.deps.deployments();
    const customers = new Set(all.filter((d) => d.state === 'active' || d.state === 'grace').map((d) => d.customer));
    for (const c of this.deps.customersInArrears()) customers.add(c);
    for (const c of [...this.low]) if (!customers.has(c)) this.low.delete(c);
    for (const customer of customers) {
      let available: bigint;
      try {
        available = (await this.deps.ledger.balance(customer)).availableMicros;
      } catch (err) {
        if (err instanceof LedgerUnavailableError) return;
        throw err;
      }
      const r = positionOf(this.deps, customer, available).runway;
      if (r.lowFunds && !this.low.has(customer)) {
        this.low.add(customer);
        await this.deps.events.record({
          atMs: this.deps.clock.nowMs(),
          event: 'customer.low_funds',
          detail: `funds are low: ${formatAmount(available)} left${r.runwayHours !== undefined ? `, about ${r.runwayHours} h at the current burn` : ''}`,
          customer,
        });
      } else if (!r.lowFunds) this.low.delete(customer);
    }
  }
}
