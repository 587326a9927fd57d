// A frozen copy of MoneyState as it stood before its tables changed (issue 14, round close11): the reference model the money-state property test compares the real one with. Test-only; never import it from src.
import { receiptHash } from '../../src/protocol/receipt.js';
import { amountOf } from '../../src/gateway/billing/amount-cache.js';
import type { EscrowRecord, MoneyRecord } from '../../src/gateway/billing/money-record.js';
import { PeriodStarts } from '../../src/gateway/billing/period-starts.js';
import type { ReceiptLogState } from '../../src/gateway/billing/receipt-log-state.js';
import type { DeploymentHistory, OpenPayoutBatch, PeriodTotals, ReceiptEntry, ReceiptState } from '../../src/gateway/billing/receipt-types.js';

/**
 * What the replayed money records say now. Only the working set stays whole: a v2 receipt that is
 * paid and paid out (or owed nothing) leaves `live`, and its totals stay in the running sums.
 */
export class ReferenceMoneyState {
  /** The working set, by receipt id. */
  readonly live = new Map<string, ReceiptEntry>();
  /** Live receipts by state, in the order they were committed, and paid ones whose share is still owed. */
  readonly byState: Record<ReceiptState, Set<ReceiptEntry>> = { issued: new Set(), arrears: new Set(), paid: new Set(), returned: new Set() };
  readonly owedPayout = new Set<ReceiptEntry>();
  readonly deployments = new Map<string, DeploymentHistory>();
  readonly periods = new Map<number, PeriodTotals>();
  readonly customerArrears = new Map<string, bigint>();
  /**
   * When and how each released held charge was released, by receipt id, for receipts read back
   * after they left memory: a deployment has about one held charge per hour of the escrow window.
   */
  readonly released = new Map<string, { readonly atMs: number; readonly how: string }>();
  /** Running totals of what each customer paid (one small record a customer, not a receipt list). */
  readonly customerPaid = new Map<string, { paidUpSeconds: number; paidMicros: bigint; firstPaidAtMs: number | null }>();
  readonly deploymentArrears = new Map<string, bigint>();
  /** All committed receipts ever. */
  receiptCount = 0;
  /** Whether the `payout_mode` marker was read: receipts paid from then on are paid out in batches. */
  payoutBatched = false;
  readonly openPayouts = new Map<string, OpenPayoutBatch>();
  private lastStart = { iso: '', ms: Number.NaN };

  /** Takes a checkpoint's money state, before any record is replayed (the entries are shared between its maps and sets, as here). */
  restore(s: ReceiptLogState): void {
    const copy = <K, V>(from: Map<K, V>, to: Map<K, V>): void => from.forEach((v, k) => to.set(k, v));
    copy(s.live, this.live);
    for (const state of Object.keys(this.byState) as ReceiptState[]) for (const e of s.byState[state]) this.byState[state].add(e);
    for (const e of s.owedPayout) this.owedPayout.add(e);
    copy(s.deployments, this.deployments);
    copy(s.periods, this.periods);
    copy(s.customerArrears, this.customerArrears);
    copy(s.released, this.released);
    copy(s.customerPaid, this.customerPaid);
    copy(s.deploymentArrears, this.deploymentArrears);
    this.receiptCount = s.receiptCount;
    this.payoutBatched = s.payoutBatched;
    copy(s.openPayouts, this.openPayouts);
  }

  /** Makes a receipt part of the indexes (v1 at once; v2 once its tree head is read); it is live until settled. */
  commit(r: MoneyRecord & { t: 'receipt' }, position: number): ReceiptEntry {
    const entry = entryOf(r, 'issued', false);
    if (r.receipt.held === true) entry.escrow = { state: 'held' };
    const d = r.receipt.deployment;
    let h = this.deployments.get(d);
    if (h && r.receipt.prev !== h.lastHash) throw new Error(`receipts.log: receipt ${r.receipt.id} does not chain to the previous receipt of ${d}`);
    if (!h) {
      h = { lastHash: entry.hash, periodStartsMs: PeriodStarts.empty(), positions: [], upSeconds: 0, chargedMicros: 0n, heldMicros: 0n, returnedMicros: 0n };
      this.deployments.set(d, h);
    }
    h.lastHash = entry.hash;
    h.periodStartsMs.push(r.periodStartMs);
    h.positions.push(position);
    h.upSeconds += r.receipt.upSeconds;
    if (entry.escrow) h.heldMicros += entry.amountMicros;
    this.live.set(r.receipt.id, entry);
    this.byState.issued.add(entry);
    this.period(r.periodStartMs).receipts++;
    this.receiptCount++;
    return entry;
  }

  private moveTo(e: ReceiptEntry, state: ReceiptState): void {
    this.byState[e.state].delete(e);
    e.state = state;
    this.byState[state].add(e);
  }

  /** A v2 receipt paid and paid out (or owed nothing) is settled for good: it leaves memory (its record stays in the store). */
  private settleIfDone(e: ReceiptEntry): void {
    if (e.receipt.v !== 2 || e.state !== 'paid' || this.owedPayout.has(e)) return;
    this.live.delete(e.receipt.id);
    this.byState.paid.delete(e);
  }

  private addPaid(customer: string, e: ReceiptEntry): void {
    const at = this.parsedStart(e.receipt.periodStart);
    const p = this.customerPaid.get(customer);
    if (!p) {
      this.customerPaid.set(customer, { paidUpSeconds: e.receipt.upSeconds, paidMicros: e.amountMicros, firstPaidAtMs: at });
      return;
    }
    p.paidUpSeconds += e.receipt.upSeconds;
    p.paidMicros += e.amountMicros;
    if (p.firstPaidAtMs === null || at < p.firstPaidAtMs) p.firstPaidAtMs = at;
  }

  /** Date.parse of a receipt's period start; a close's receipts share one, so the last is kept. */
  private parsedStart(iso: string): number {
    if (iso !== this.lastStart.iso) this.lastStart = { iso, ms: Date.parse(iso) };
    return this.lastStart.ms;
  }

  private addDeploymentArrears(e: ReceiptEntry, micros: bigint): void {
    const d = e.receipt.deployment;
    const next = (this.deploymentArrears.get(d) ?? 0n) + micros;
    if (next === 0n) this.deploymentArrears.delete(d);
    else this.deploymentArrears.set(d, next);
  }

  applyPayoutBatch(r: MoneyRecord & { t: 'payout_mode' | 'payout_begin' | 'payout_done' | 'payout_refused' }): void {
    switch (r.t) {
      case 'payout_mode':
        this.payoutBatched = true;
        return;
      case 'payout_begin':
        if (this.openPayouts.has(r.key)) throw new Error(`receipts.log: payout batch ${r.key} begun twice`);
        for (const id of r.ids) {
          const e = this.live.get(id);
          if (!e || !this.owedPayout.has(e) || e.payoutKey !== undefined) throw new Error(`receipts.log: payout batch ${r.key} names ${id}, which is not owed a payout outside a batch`);
          e.payoutKey = r.key;
        }
        this.openPayouts.set(r.key, { key: r.key, farmer: r.farmer, unit: r.unit, amountMicros: BigInt(r.amountMicros), ids: r.ids });
        return;
      case 'payout_done':
      case 'payout_refused': {
        const batch = this.openPayouts.get(r.key);
        if (!batch) throw new Error(`receipts.log: a ${r.t} record names payout batch ${r.key}, which was not begun or is already closed`);
        this.openPayouts.delete(r.key);
        for (const id of batch.ids) {
          const e = this.live.get(id) as ReceiptEntry;
          delete e.payoutKey;
          if (r.t === 'payout_refused') {
            e.payoutSingly = true;
            continue;
          }
          e.paidOut = true;
          this.owedPayout.delete(e);
          this.period(e.periodStartMs).paidOutMicros += e.farmerShareMicros;
          this.settleIfDone(e);
        }
      }
    }
  }

  /** Marks receipts still in arrears as being retried (their charge may run), or their retry as over; a receipt no longer in arrears is left as it is. */
  applyArrearsRetry(r: MoneyRecord & { t: 'arrears_retry' | 'arrears_retry_end' }): void {
    for (const id of r.ids) {
      const e = this.live.get(id);
      if (e?.state !== 'arrears') continue;
      if (r.t === 'arrears_retry') e.retryBegun = true;
      else delete e.retryBegun;
    }
  }

  /** A receipt paid: out of arrears, into the paid totals, owed its farmer share (or settled). */
  private applyPaid(e: ReceiptEntry): void {
    if (e.state === 'paid') return;
    const customer = e.receipt.customer;
    delete e.retryBegun;
    if (e.state === 'arrears') {
      this.customerArrears.set(customer, (this.customerArrears.get(customer) ?? 0n) - e.amountMicros);
      this.addDeploymentArrears(e, -e.amountMicros);
      this.period(e.periodStartMs).arrearsMicros -= e.amountMicros;
    }
    this.moveTo(e, 'paid');
    this.addPaid(customer, e);
    if (!this.payoutBatched) e.payoutSingly = true;
    if (!e.paidOut && e.farmerShareMicros > 0n) this.owedPayout.add(e);
    const p = this.period(e.periodStartMs);
    p.chargedMicros += e.amountMicros;
    p.farmerSharesMicros += e.farmerShareMicros;
    const h = this.deployments.get(e.receipt.deployment);
    if (h) h.chargedMicros += e.amountMicros;
    this.settleIfDone(e);
  }

  /**
   * A record naming a receipt that is no longer live names a settled one: every such record
   * (paid, arrears, payout again) is a no-op on a settled receipt, as it was before it left memory.
   */
  applyMoney(r: MoneyRecord & { t: 'countersign' | 'countersign_refused' | 'paid' | 'arrears' | 'payout' | EscrowRecord['t'] }): void {
    const e = this.live.get(r.id);
    if (!e) return;
    const customer = e.receipt.customer;
    switch (r.t) {
      case 'countersign':
        e.farmerSignature = r.signature;
        return;
      case 'countersign_refused':
        e.countersignRefused = r.reason;
        return;
      case 'paid':
        this.applyPaid(e);
        return;
      case 'arrears':
        if (e.state !== 'issued') return;
        this.moveTo(e, 'arrears');
        this.customerArrears.set(customer, (this.customerArrears.get(customer) ?? 0n) + e.amountMicros);
        this.addDeploymentArrears(e, e.amountMicros);
        this.period(e.periodStartMs).arrearsMicros += e.amountMicros;
        return;
      case 'escrow_release':
      case 'escrow_return': {
        // Only a held charge not yet settled moves: a second record for it (a re-run after a crash) changes nothing.
        if (e.escrow?.state !== 'held' || e.state !== 'issued') return;
        e.escrow = { state: r.t === 'escrow_release' ? 'released' : 'returned', atMs: r.atMs, how: r.how };
        if (r.t === 'escrow_release') this.released.set(e.receipt.id, { atMs: r.atMs, how: r.how });
        const h = this.deployments.get(e.receipt.deployment);
        if (h) h.heldMicros -= e.amountMicros;
        if (r.t === 'escrow_return') {
          this.moveTo(e, 'returned');
          if (h) h.returnedMicros += e.amountMicros;
          const p = this.period(e.periodStartMs);
          p.returnedMicros = (p.returnedMicros ?? 0n) + e.amountMicros;
        }
        return;
      }
      case 'payout':
        if (e.paidOut || e.payoutKey !== undefined) return;
        e.paidOut = true;
        this.owedPayout.delete(e);
        this.period(e.periodStartMs).paidOutMicros += BigInt(r.amountMicros);
        this.settleIfDone(e);
    }
  }

  /** A `paid_batch` record: each receipt it names that is still live is paid. */
  applyPaidBatch(r: MoneyRecord & { t: 'paid_batch' }): void {
    if (r.ids.length !== r.entryIds.length) throw new Error(`receipts.log: a paid_batch record names ${r.ids.length} receipt(s) but ${r.entryIds.length} ledger entr(ies)`);
    for (const id of r.ids) {
      const e = this.live.get(id);
      if (e) this.applyPaid(e);
    }
  }

  /** A period's totals, made on first use. */
  period(ms: number): PeriodTotals {
    let p = this.periods.get(ms);
    if (!p) {
      p = { chargedMicros: 0n, farmerSharesMicros: 0n, paidOutMicros: 0n, arrearsMicros: 0n, returnedMicros: 0n, receipts: 0 };
      this.periods.set(ms, p);
    }
    return p;
  }
}

/** A receipt record as an entry in `state`. */
function entryOf(r: MoneyRecord & { t: 'receipt' }, state: ReceiptState, paidOut: boolean): ReceiptEntry {
  return {
    receipt: r.receipt,
    ...(r.index === undefined ? {} : { index: r.index }),
    hash: r.hash ?? receiptHash(r.receipt),
    periodStartMs: r.periodStartMs,
    key: r.key,
    amountMicros: amountOf('amount', r.receipt.amount),
    farmerShareMicros: amountOf('farmerShare', r.receipt.farmerShare),
    state,
    paidOut,
  };
}

