// Runway and low funds: how long an agreement lasts at the current burn rate, and when to warn.
import type { Logger } from 'pino';
import { HOUR_MS, type Clock } from '../../protocol/clock.js';
import { formatAmount, parseAmount } from '../../protocol/money.js';
import type { EventSink } from '../events/event-log.js';
import { LedgerUnavailableError, type Ledger } from '../ledger/ledger.js';
import type { DeploymentRecord } from '../store/records.js';

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
 * when there are arrears, or the runway is under `lowRunwayMs` (default 24 hours).
 */
export function runwayOf(availableMicros: bigint, burnMicrosPerHour: bigint, arrearsMicros: bigint, lowRunwayMs: number): Runway {
  if (burnMicrosPerHour <= 0n) return { lowFunds: arrearsMicros > 0n };
  const runwayHours = Number((availableMicros * 100n) / burnMicrosPerHour) / 100;
  return { runwayHours, lowFunds: arrearsMicros > 0n || runwayHours * HOUR_MS < lowRunwayMs };
}

/** Keeps each running customer's low-funds state fresh, and notes when a customer's funds turn low. */
export class FundsWatch {
  private readonly low = new Set<string>();
  private lastRefreshRealMs = 0;

  constructor(
    private readonly deps: {
      readonly clock: Clock;
      readonly ledger: Ledger;
      readonly events: EventSink;
      readonly log: Logger;
      readonly lowRunwayMs: number;
      deployments(): readonly DeploymentRecord[];
      arrearsOf(customer: string): bigint;
    },
  ) {}

  /** Customers whose funds are low. */
  lowFunds(): ReadonlySet<string> {
    return this.low;
  }

  /** Re-reads balances of customers with running VMs, at most once per `minIntervalRealMs`. */
  async refresh(minIntervalRealMs: number): Promise<void> {
    if (Date.now() - this.lastRefreshRealMs < minIntervalRealMs) return;
    this.lastRefreshRealMs = Date.now();
    const all = this.deps.deployments();
    const customers = new Set(all.filter((d) => d.state === 'active' || d.state === 'grace').map((d) => d.customer));
    for (const c of [...this.low]) if (!customers.has(c)) this.low.delete(c);
    for (const customer of customers) {
      let available: bigint;
      try {
        available = (await this.deps.ledger.balance(customer)).availableMicros;
      } catch (err) {
        if (err instanceof LedgerUnavailableError) return;
        throw err;
      }
      const r = runwayOf(available, burnPerHourMicros(all, customer), this.deps.arrearsOf(customer), this.deps.lowRunwayMs);
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
