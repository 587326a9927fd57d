// Trust limits: a customer's standing from their history here (or an admin's choice, audited), the VM cap and deposit it sets, and the refusal beyond it.
import { HOUR_MS, type Clock } from '../../protocol/clock.js';
import { expectObject, expectOnlyKeys, expectString } from '../../protocol/validate.js';
import type { PaidHistory } from '../billing/receipt-types.js';
import { ESCROW_EVENTS } from '../escrow/escrow-events.js';
import type { EventSink } from '../events/event-log.js';
import { PublicError } from '../http/public-error.js';
import type { Table } from '../store/store.js';
import type { DeploymentRecord, OrderRecord } from '../store/records.js';
import { trustStanding, type TrustHistory, type TrustOverride, type TrustStanding, type TrustTier } from './trust-tier.js';

/** What the trust service needs. */
export interface TrustDeps {
  readonly clock: Clock;
  /** Ordered tiers, the first needing nothing (config trust.tiers). */
  readonly tiers: readonly TrustTier[];
  readonly deployments: Pick<Table<DeploymentRecord>, 'values'>;
  readonly orders: Pick<Table<OrderRecord>, 'values'>;
  readonly receipts: { paidHistoryOf(customer: string): PaidHistory; arrearsOf(customer: string): bigint };
  /** Where admins' overrides are kept (key `trust:AGENT`). */
  readonly meta: Table<unknown>;
  readonly events: EventSink;
}

/** A customer's trust as GET /v1/balance and the admin views show it. */
export interface TrustView {
  readonly tier: string;
  readonly source: TrustStanding['source'];
  readonly maxVms: number;
  /** VMs counted against the cap now: running, in grace, or ordered and not ended. */
  readonly vms: number;
  readonly depositHours: number;
  readonly paidHours: number;
  /** What raises the tier, or null at the top. */
  readonly raisedBy: string | null;
}

const overrideKey = (agent: string): string => `trust:${agent}`;

/** Most characters of an admin's reason for setting a tier. */
export const MAX_TRUST_REASON_CHARS = 500;

/**
 * Reads a customer's history from the money log's running totals of what they paid (kept as the
 * log is read and written, so a restart changes nothing and no receipt is read per order).
 */
export class TrustService {
  constructor(private readonly deps: TrustDeps) {}

  /** The customer's history: paid up-time and amount, since when, and arrears. */
  history(customer: string): TrustHistory {
    return { ...this.deps.receipts.paidHistoryOf(customer), arrearsMicros: this.deps.receipts.arrearsOf(customer) };
  }

  standing(customer: string): TrustStanding {
    return trustStanding(this.history(customer), this.deps.tiers, this.deps.clock.nowMs(), this.override(customer));
  }

  /** The deposit duration for the customer's next order. */
  depositMsFor(customer: string): number {
    return this.standing(customer).tier.depositMs;
  }

  /** VMs counted against the customer's cap: deployments not ended, and orders not yet handed over, failed or expired. */
  vmsOf(customer: string): number {
    let n = 0;
    for (const d of this.deps.deployments.values()) if (d.customer === customer && d.state !== 'deprovisioned') n++;
    for (const o of this.deps.orders.values()) if (o.customer === customer && (o.state === 'awaiting_payment' || o.state === 'paid' || o.state === 'provisioning')) n++;
    return n;
  }

  /** Refuses one more VM beyond the tier's cap: 403 trust_limit naming the tier, the limit and what raises it. */
  admit(customer: string): void {
    const s = this.standing(customer);
    const vms = this.vmsOf(customer);
    if (vms < s.tier.maxVms) return;
    throw new PublicError(
      'trust_limit',
      `your trust tier "${s.tier.name}" allows ${s.tier.maxVms} VM(s) at once, and you have ${vms} (running, in grace, or ordered)`,
      `${s.raisedBy === null ? 'this is the highest tier' : `raised by ${s.raisedBy}`}; or cancel a VM or let an unpaid order expire`,
      { tier: s.tier.name, limit: s.tier.maxVms, vms, raisedBy: s.raisedBy },
    );
  }

  view(customer: string): TrustView {
    const s = this.standing(customer);
    return { tier: s.tier.name, source: s.source, maxVms: s.tier.maxVms, vms: this.vmsOf(customer), depositHours: s.tier.depositMs / HOUR_MS, paidHours: s.paidHours, raisedBy: s.raisedBy };
  }

  /**
   * PUT /admin/api/customers/{agent}/trust: `{"tier": "NAME", "reason": "…"}` sets the tier by
   * hand, `{"tier": null, "reason": "…"}` goes back to the history's. Audited on the timeline.
   */
  async setOverride(admin: string, customer: string, body: unknown): Promise<TrustView> {
    const o = expectObject(body, 'body');
    expectOnlyKeys(o, ['tier', 'reason'], 'body');
    const reason = expectString(o.reason, 'reason', { maxLength: MAX_TRUST_REASON_CHARS });
    if (reason.trim() === '') throw new PublicError('bad_request', 'reason must say why', 'e.g. {"tier": "established", "reason": "known customer, paid by invoice"}', { field: 'reason' });
    const now = this.deps.clock.nowMs();
    const before = this.standing(customer).tier.name;
    if (o.tier === null) {
      await this.deps.meta.delete(overrideKey(customer));
    } else {
      const name = expectString(o.tier, 'tier', { maxLength: 64 });
      if (!this.deps.tiers.some((t) => t.name === name)) {
        throw new PublicError('bad_request', `tier ${JSON.stringify(name)} is not configured`, `tiers: ${this.deps.tiers.map((t) => t.name).join(', ')} (config trust.tiers), or null to clear`, { field: 'tier' });
      }
      const record: TrustOverride = { tier: name, by: admin, atMs: now, reason };
      await this.deps.meta.put(overrideKey(customer), record);
    }
    const after = this.view(customer);
    await this.deps.events.record({
      atMs: now,
      event: ESCROW_EVENTS.trustTierSet,
      detail: o.tier === null ? `${admin} cleared the hand-set tier (was "${before}", now "${after.tier}" from history): ${reason}` : `${admin} set the trust tier to "${after.tier}" (was "${before}"): ${reason}`,
      customer,
      data: { by: admin, tier: o.tier, before, reason },
    });
    return after;
  }

  private override(customer: string): TrustOverride | undefined {
    return this.deps.meta.get(overrideKey(customer)) as TrustOverride | undefined;
  }
}
