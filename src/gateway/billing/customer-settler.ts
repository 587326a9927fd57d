// Settles with customers' ledgers: posts issued receipts as billing events, and posts again the arrears the funds now cover.
import { BILLING_EVENTS_PER_CALL, LedgerUnavailableError, type BatchPostResult, type BillingEvent } from '../ledger/ledger.js';
import type { BillingDeps } from './billing-deps.js';
import { PaidBatch, SETTLE_BATCH } from './paid-batch.js';
import type { MoneyRecord, ReceiptEntry } from './receipt-log.js';

/** What settling with customers needs of the gateway. */
export type CustomerSettlerDeps = Pick<BillingDeps, 'clock' | 'receipts' | 'ledger' | 'events'>;

/**
 * Posts charges to customers' agreements. Each billing event carries its receipt's key, so a post
 * repeated after a crash charges nothing twice; a post that failed without an answer is remembered,
 * since its charge may have run and the balance no longer shows it.
 */
export class CustomerSettler {
  /**
   * Receipts whose last post failed without an answer (LedgerUnavailableError): the charge may have
   * run. Bounded by the receipts not yet paid; an answer removes the id.
   */
  private readonly outcomeUnknown = new Set<string>();

  constructor(private readonly deps: CustomerSettlerDeps) {}

  /**
   * Posts issued receipts, oldest first per customer; returns how many were posted. Where the ledger
   * takes a customer's events together (postBillingEvents) they go in batches of up to
   * BILLING_EVENTS_PER_CALL; a batch the funds cannot cover whole is posted one by one, oldest first,
   * so a customer who can pay part still pays part. The receipts paid are recorded as one
   * `paid_batch` record per SETTLE_BATCH (arrears one record each), appended once posted or when the ledger
   * stops answering: a crash before re-posts them, and each one's key charges it once. One append is in
   * flight while the next receipts are posted (bench/billing: a 100k close waited for ~12 fsyncs here one by
   * one); the one before is acknowledged before the next is appended, and all before this answers.
   */
  async postIssued(): Promise<number> {
    const paid = new PaidBatch();
    const others: MoneyRecord[] = [];
    let storing: Promise<void> = Promise.resolve();
    const flush = async (): Promise<void> => {
      // A failed append stops the settle here: what it named is posted again next time, under the same keys.
      await storing;
      storing = this.deps.receipts.append([...paid.take(), ...others.splice(0)]);
      // Awaited at the next flush or at the end; a failure meanwhile is not an unhandled rejection.
      storing.catch(() => undefined);
    };
    let posted = 0;
    const take = async (record: MoneyRecord): Promise<void> => {
      if (record.t === 'paid') paid.add(record);
      else others.push(record);
      posted++;
      if (paid.size + others.length >= SETTLE_BATCH) await flush();
    };
    try {
      if (this.deps.ledger.postBillingEvents === undefined) {
        for (const e of this.deps.receipts.inState('issued')) if (e.escrow?.state !== 'held') await take(await this.post(e));
      } else {
        for (const [customer, list] of this.issuedByCustomer()) {
          for (let from = 0; from < list.length; from += BILLING_EVENTS_PER_CALL) await this.postBatch(customer, list.slice(from, from + BILLING_EVENTS_PER_CALL), take);
        }
      }
    } finally {
      await flush();
      await storing;
    }
    return posted;
  }

  /** Issued receipts not held, oldest first, by customer. */
  private issuedByCustomer(): Map<string, ReceiptEntry[]> {
    const byCustomer = new Map<string, ReceiptEntry[]>();
    for (const e of this.deps.receipts.inState('issued')) {
      if (e.escrow?.state === 'held') continue;
      const list = byCustomer.get(e.receipt.customer);
      if (list) list.push(e);
      else byCustomer.set(e.receipt.customer, [e]);
    }
    return byCustomer;
  }

  /** One customer's receipts as one ledger call; when the funds cannot cover them all, one by one, oldest first. */
  private async postBatch(customer: string, list: readonly ReceiptEntry[], take: (record: MoneyRecord) => Promise<void>): Promise<void> {
    const now = this.deps.clock.nowMs();
    const charged = list.filter((e) => e.amountMicros !== 0n);
    for (const e of list) if (e.amountMicros === 0n) await take({ t: 'paid', id: e.receipt.id, entryId: null, atMs: now });
    if (charged.length <= 1) {
      for (const e of charged) await take(await this.post(e));
      return;
    }
    const ledger = this.deps.ledger;
    if (ledger.postBillingEvents === undefined) throw new TypeError('billing.postBatch: the ledger posts no batches');
    let result: BatchPostResult;
    try {
      result = await ledger.postBillingEvents(customer, charged.map((e) => this.eventOf(e)));
      if (result.status === 'paid' && result.entryIds.length !== charged.length) {
        throw new LedgerUnavailableError('postBillingEvents', `answered ${result.entryIds.length} entry id(s) for ${charged.length} event(s)`);
      }
    } catch (err) {
      if (err instanceof LedgerUnavailableError) for (const e of charged) this.outcomeUnknown.add(e.receipt.id);
      throw err;
    }
    for (const e of charged) this.outcomeUnknown.delete(e.receipt.id);
    if (result.status === 'paid') {
      for (const [i, e] of charged.entries()) await take({ t: 'paid', id: e.receipt.id, entryId: result.entryIds[i] as string, atMs: now });
      return;
    }
    for (const e of charged) await take(await this.post(e));
  }

  /** One billing event; a zero charge needs no ledger entry. */
  private async post(e: ReceiptEntry): Promise<MoneyRecord> {
    const now = this.deps.clock.nowMs();
    if (e.amountMicros === 0n) return { t: 'paid', id: e.receipt.id, entryId: null, atMs: now };
    const r = e.receipt;
    const posting = this.deps.ledger.postBillingEvent(this.eventOf(e));
    let result: Awaited<typeof posting>;
    try {
      result = await posting;
    } catch (err) {
      if (err instanceof LedgerUnavailableError) this.outcomeUnknown.add(r.id);
      throw err;
    }
    this.outcomeUnknown.delete(r.id);
    if (result.status === 'paid') return { t: 'paid', id: r.id, entryId: result.entryId, atMs: now };
    return { t: 'arrears', id: r.id, availableMicros: result.availableMicros.toString(), atMs: now };
  }

  /** A receipt's billing event: its key (deployment, period start) and its invoice. */
  private eventOf(e: ReceiptEntry): BillingEvent {
    const r = e.receipt;
    return {
      key: e.key,
      customer: r.customer,
      farmer: r.farmer,
      amountMicros: e.amountMicros,
      unit: r.unit,
      receiptIds: [r.id],
      invoice: { receipt: r.id, receiptHash: e.hash, ...this.treeHeadOf(e), deployment: r.deployment, periodStart: r.periodStart, periodEnd: r.periodEnd, upSeconds: r.upSeconds, pricePerHour: r.pricePerHour, gateway: r.gateway },
    };
  }

  /** The period's evidence for the ledger: the hash of the signed tree head the receipt is a leaf of. */
  private treeHeadOf(e: ReceiptEntry): { treeHead?: string } {
    const headHash = e.receipt.v === 2 ? this.deps.receipts.treeHeadHash(e.periodStartMs) : undefined;
    return headHash === undefined ? {} : { treeHead: headHash };
  }

  /**
   * Arrears, oldest first per customer, posted again while the agreement now covers them. The
   * receipts about to be posted are named in an `arrears_retry` record first: after a crash between
   * a charge and its `paid` record, the balance no longer covers that charge, so the restarted
   * gateway posts each receipt still named there once more anyway, and the ledger answers "paid"
   * under its key (or refuses, and it stays in arrears); nothing is charged twice.
   */
  async retryArrears(): Promise<void> {
    const byCustomer = new Map<string, ReceiptEntry[]>();
    for (const e of this.deps.receipts.inState('arrears')) {
      const list = byCustomer.get(e.receipt.customer) ?? [];
      list.push(e);
      byCustomer.set(e.receipt.customer, list);
    }
    for (const [customer, list] of byCustomer) {
      const available = (await this.deps.ledger.balance(customer)).availableMicros;
      const chosen = this.retryCandidates(list, available);
      if (chosen.length === 0) continue;
      const begun = chosen.filter((e) => e.retryBegun !== true).map((e) => e.receipt.id);
      if (begun.length > 0) await this.deps.receipts.append([{ t: 'arrears_retry', ids: begun, atMs: this.deps.clock.nowMs() }]);
      const paid: MoneyRecord[] = [];
      const refused: string[] = [];
      try {
        // Each one is posted (not up to the first refusal): a receipt whose charge may have run must be asked about.
        for (const e of chosen) {
          const record = await this.post(e);
          if (record.t === 'paid') paid.push(record);
          else refused.push(e.receipt.id);
        }
      } finally {
        // Charges made before a failed post are recorded now, not left in arrears; the post that failed
        // (and those after it) stay begun, so the next round asks the ledger about them whatever the balance.
        const over: MoneyRecord[] = refused.length === 0 ? [] : [{ t: 'arrears_retry_end', ids: refused, atMs: this.deps.clock.nowMs() }];
        await this.deps.receipts.append([...paid, ...over]);
      }
      if (paid.length > 0) {
        await this.deps.events.record({ atMs: this.deps.clock.nowMs(), event: 'billing.arrears_settled', detail: `${paid.length} receipt(s) in arrears were paid after funds arrived`, customer });
      }
    }
  }

  /**
   * The arrears to post now, oldest first: those the balance covers, in order, up to the first it does
   * not; a receipt whose post may have charged (its answer lost, or its retry begun before a restart)
   * is posted whatever the balance, since that charge is no longer in the balance.
   */
  private retryCandidates(list: readonly ReceiptEntry[], availableMicros: bigint): ReceiptEntry[] {
    const chosen: ReceiptEntry[] = [];
    let available = availableMicros;
    let covered = true;
    for (const e of list) {
      const mayHaveRun = e.retryBegun === true || this.outcomeUnknown.has(e.receipt.id);
      if (mayHaveRun) {
        chosen.push(e);
        continue;
      }
      if (!covered || available < e.amountMicros) {
        covered = false;
        continue;
      }
      chosen.push(e);
      available -= e.amountMicros;
    }
    return chosen;
  }
}
