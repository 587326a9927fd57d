// The money log: every receipt and what became of it (countersigned, paid, arrears, paid out), append-only and fsynced.
import { AppendLog } from '../store/append-log.js';
import { parseAmount } from '../../protocol/money.js';
import { receiptHash, type Receipt } from '../../protocol/receipt.js';

/** One line of the money log. */
export type MoneyRecord =
  | { readonly t: 'receipt'; readonly receipt: Receipt; readonly periodStartMs: number; readonly key: string; readonly hash?: string }
  | { readonly t: 'countersign'; readonly id: string; readonly signature: string; readonly atMs: number }
  | { readonly t: 'countersign_refused'; readonly id: string; readonly reason: string; readonly atMs: number }
  | { readonly t: 'paid'; readonly id: string; readonly entryId: string | null; readonly atMs: number }
  | { readonly t: 'arrears'; readonly id: string; readonly availableMicros: string; readonly atMs: number }
  | { readonly t: 'payout'; readonly id: string; readonly farmer: string; readonly amountMicros: string; readonly entryId: string | null; readonly atMs: number };

/** Where a receipt stands. */
export type ReceiptState = 'issued' | 'arrears' | 'paid';

/** A receipt with its standing. */
export interface ReceiptEntry {
  readonly receipt: Receipt;
  /** blake2b-256 of the receipt's signed bytes: what the next receipt's `prev` names. */
  readonly hash: string;
  readonly periodStartMs: number;
  /** The ledger idempotency key: derived from (deployment, period start). */
  readonly key: string;
  readonly amountMicros: bigint;
  readonly farmerShareMicros: bigint;
  state: ReceiptState;
  paidAtMs?: number;
  paidOut: boolean;
  farmerSignature?: string;
  countersignRefused?: string;
}

/** Totals of one period (by period start), for revenue charts. */
export interface PeriodTotals {
  chargedMicros: bigint;
  farmerSharesMicros: bigint;
  paidOutMicros: bigint;
  arrearsMicros: bigint;
  receipts: number;
}

/**
 * `receipts.log`: appending a receipt is O(1) (one line, fsynced with its batch), never a
 * rewrite of the database. Indexes are rebuilt from it on start, so it alone decides what was
 * issued, billed and paid out: a crash at any point loses no money record.
 */
export class ReceiptLog {
  private readonly byId = new Map<string, ReceiptEntry>();
  private readonly byDeployment = new Map<string, ReceiptEntry[]>();
  private readonly periods = new Map<number, PeriodTotals>();
  private readonly customerArrears = new Map<string, bigint>();

  private constructor(private readonly log: AppendLog<MoneyRecord>) {}

  static open(path: string): { receipts: ReceiptLog; tornBytes: number } {
    const { log, records, tornBytes } = AppendLog.open<MoneyRecord>(path);
    const receipts = new ReceiptLog(log);
    for (const r of records) receipts.apply(r);
    return { receipts, tornBytes };
  }

  /** Appends records (one fsync for the batch) and applies them. */
  async append(records: MoneyRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.log.append(...records);
    for (const r of records) this.apply(r);
  }

  get(id: string): ReceiptEntry | undefined {
    return this.byId.get(id);
  }

  /** A deployment's receipts, oldest first. */
  of(deployment: string): readonly ReceiptEntry[] {
    return this.byDeployment.get(deployment) ?? [];
  }

  /** The last receipt of a deployment. */
  last(deployment: string): ReceiptEntry | undefined {
    const list = this.byDeployment.get(deployment);
    return list?.[list.length - 1];
  }

  /** Whether the deployment has a receipt for the period starting at `periodStartMs`. */
  has(deployment: string, periodStartMs: number): boolean {
    const list = this.byDeployment.get(deployment);
    if (!list) return false;
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i] as ReceiptEntry;
      if (e.periodStartMs === periodStartMs) return true;
      if (e.periodStartMs < periodStartMs) return false;
    }
    return false;
  }

  /** Every receipt in a state, oldest first. */
  inState(state: ReceiptState): ReceiptEntry[] {
    const out: ReceiptEntry[] = [];
    for (const e of this.byId.values()) if (e.state === state) out.push(e);
    return out.sort((a, b) => a.periodStartMs - b.periodStartMs);
  }

  /** Paid receipts whose farmer share has not been paid out. */
  unpaidOut(): ReceiptEntry[] {
    const out: ReceiptEntry[] = [];
    for (const e of this.byId.values()) if (e.state === 'paid' && !e.paidOut && e.farmerShareMicros > 0n) out.push(e);
    return out;
  }

  /** Receipts still waiting for the farmer's countersignature or refusal. */
  awaitingCountersign(sincePeriodMs: number): ReceiptEntry[] {
    const out: ReceiptEntry[] = [];
    for (const e of this.byId.values()) if (e.farmerSignature === undefined && e.countersignRefused === undefined && e.periodStartMs >= sincePeriodMs) out.push(e);
    return out;
  }

  arrearsOf(customer: string): bigint {
    return this.customerArrears.get(customer) ?? 0n;
  }

  /** Customers with arrears. */
  customersInArrears(): string[] {
    return [...this.customerArrears].filter(([, v]) => v > 0n).map(([k]) => k);
  }

  /** Totals by period start, oldest first. */
  periodTotals(): Array<[number, PeriodTotals]> {
    return [...this.periods].sort((a, b) => a[0] - b[0]);
  }

  /** All receipts (for the admin page: counts). */
  count(): number {
    return this.byId.size;
  }

  /** The receipt as shown to people: with the farmer's countersignature when there is one. */
  static withSignatures(e: ReceiptEntry): Receipt {
    if (e.farmerSignature === undefined) return e.receipt;
    return { ...e.receipt, signatures: { ...e.receipt.signatures, farmer: e.farmerSignature } };
  }

  close(): void {
    this.log.close();
  }

  private period(ms: number): PeriodTotals {
    let p = this.periods.get(ms);
    if (!p) {
      p = { chargedMicros: 0n, farmerSharesMicros: 0n, paidOutMicros: 0n, arrearsMicros: 0n, receipts: 0 };
      this.periods.set(ms, p);
    }
    return p;
  }

  private apply(r: MoneyRecord): void {
    if (r.t === 'receipt') {
      const entry: ReceiptEntry = {
        receipt: r.receipt,
        hash: r.hash ?? receiptHash(r.receipt),
        periodStartMs: r.periodStartMs,
        key: r.key,
        amountMicros: parseAmount('amount', r.receipt.amount),
        farmerShareMicros: parseAmount('farmerShare', r.receipt.farmerShare),
        state: 'issued',
        paidOut: false,
      };
      this.byId.set(r.receipt.id, entry);
      const list = this.byDeployment.get(r.receipt.deployment) ?? [];
      const last = list[list.length - 1];
      if (last && r.receipt.prev !== last.hash) throw new Error(`receipts.log: receipt ${r.receipt.id} does not chain to ${last.receipt.id}`);
      list.push(entry);
      this.byDeployment.set(r.receipt.deployment, list);
      this.period(r.periodStartMs).receipts++;
      return;
    }
    const e = this.byId.get(r.id);
    if (!e) throw new Error(`receipts.log: a ${r.t} record names unknown receipt ${r.id}`);
    const customer = e.receipt.customer;
    switch (r.t) {
      case 'countersign':
        e.farmerSignature = r.signature;
        return;
      case 'countersign_refused':
        e.countersignRefused = r.reason;
        return;
      case 'paid':
        if (e.state === 'paid') return;
        if (e.state === 'arrears') {
          this.customerArrears.set(customer, (this.customerArrears.get(customer) ?? 0n) - e.amountMicros);
          this.period(e.periodStartMs).arrearsMicros -= e.amountMicros;
        }
        e.state = 'paid';
        e.paidAtMs = r.atMs;
        this.period(e.periodStartMs).chargedMicros += e.amountMicros;
        this.period(e.periodStartMs).farmerSharesMicros += e.farmerShareMicros;
        return;
      case 'arrears':
        if (e.state !== 'issued') return;
        e.state = 'arrears';
        this.customerArrears.set(customer, (this.customerArrears.get(customer) ?? 0n) + e.amountMicros);
        this.period(e.periodStartMs).arrearsMicros += e.amountMicros;
        return;
      case 'payout':
        if (e.paidOut) return;
        e.paidOut = true;
        this.period(e.periodStartMs).paidOutMicros += BigInt(r.amountMicros);
    }
  }
}
