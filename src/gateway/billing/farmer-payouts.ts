// Pays farmers their shares of paid receipts: in begun-ahead batches per farmer and unit, or one by one where a batch cannot be used.
import { blake2b, toHex, utf8 } from '../../identity/index.js';
import { LedgerRejectedError } from '../ledger/ledger.js';
import type { BillingDeps } from './billing-deps.js';
import { SETTLE_BATCH } from './paid-batch.js';
import type { MoneyRecord, OpenPayoutBatch, ReceiptEntry } from './receipt-log.js';

/**
 * Receipts paid out to one farmer in one ledger call. Bounded because the call names every
 * receipt (the embedded ledger journals the ids; Unyt's payFarmer looks up each one's bill).
 */
export const PAYOUT_BATCH = 1000;

/**
 * A payout batch for receipts of one farmer and unit. Its key is derived from the receipt ids,
 * and a receipt is put in one batch only (ReceiptLog refuses a second), so a key names one payout.
 */
export function payoutBatchOf(entries: readonly ReceiptEntry[]): OpenPayoutBatch {
  const first = entries[0];
  if (!first) throw new RangeError('payoutBatchOf: a batch needs at least one receipt');
  const ids = entries.map((e) => e.receipt.id);
  return {
    key: `payout:b:${toHex(blake2b(utf8(ids.join('\n')), 16))}`,
    farmer: first.receipt.farmer,
    unit: first.receipt.unit,
    amountMicros: entries.reduce((sum, e) => sum + e.farmerShareMicros, 0n),
    ids,
  };
}

/** What paying farmers needs of the gateway. */
export type FarmerPayoutsDeps = Pick<BillingDeps, 'clock' | 'receipts' | 'ledger' | 'events'>;

/** Posts farmers' payouts to the ledger and records each outcome in the receipt log (written ahead, so a crash repeats a payout under the same key). */
export class FarmerPayouts {
  constructor(private readonly deps: FarmerPayoutsDeps) {}

  /**
   * Pays farmers their shares of paid receipts: batches begun before a crash first (same key,
   * same receipts), then one payout per farmer (and unit) for up to PAYOUT_BATCH receipts, each
   * written ahead as `payout_begin` before it is posted. Receipts paid before batching began, or
   * whose batch the ledger refused, are paid one by one under their own key, as they always were.
   */
  async payFarmers(): Promise<void> {
    const done: MoneyRecord[] = [];
    try {
      await this.payBatches(done);
    } finally {
      // The batches paid, recorded with one fsync (bench/billing: one append per farmer was ~100 fsyncs a close); a crash before it posts them again under their keys, which the ledger pays once.
      await this.deps.receipts.append(done);
    }
  }

  /** Posts begun batches, then begins and posts new ones; gathers each paid batch's `payout_done` record into `done`. */
  private async payBatches(done: MoneyRecord[]): Promise<void> {
    const receipts = this.deps.receipts;
    for (const batch of receipts.openPayoutBatches()) await this.postPayoutBatch(batch, done);
    const singly: ReceiptEntry[] = [];
    const byFarmer = new Map<string, ReceiptEntry[]>();
    for (const e of receipts.unpaidOut()) {
      if (e.payoutSingly) {
        singly.push(e);
        continue;
      }
      const group = `${e.receipt.farmer}\n${e.receipt.unit}`;
      const list = byFarmer.get(group);
      if (list) list.push(e);
      else byFarmer.set(group, [e]);
    }
    await this.payOneByOne(singly);
    const begun: OpenPayoutBatch[] = [];
    for (const list of byFarmer.values()) {
      for (let from = 0; from < list.length; from += PAYOUT_BATCH) begun.push(payoutBatchOf(list.slice(from, from + PAYOUT_BATCH)));
    }
    if (begun.length === 0) return;
    const atMs = this.deps.clock.nowMs();
    await receipts.append(begun.map((b): MoneyRecord => ({ t: 'payout_begin', key: b.key, farmer: b.farmer, unit: b.unit, amountMicros: b.amountMicros.toString(), ids: b.ids, atMs })));
    for (const b of begun) await this.postPayoutBatch(b, done);
  }

  /** Posts one begun batch: paid, its `payout_done` goes into `done`; a refusal (nothing paid under its key) is recorded at once and sends its receipts to be paid one by one. */
  private async postPayoutBatch(b: OpenPayoutBatch, done: MoneyRecord[]): Promise<void> {
    let entryId: string;
    try {
      entryId = (await this.deps.ledger.payFarmer({ key: b.key, farmer: b.farmer, amountMicros: b.amountMicros, unit: b.unit, receiptIds: b.ids })).entryId;
    } catch (err) {
      if (!(err instanceof LedgerRejectedError)) throw err;
      const atMs = this.deps.clock.nowMs();
      await this.deps.receipts.append([{ t: 'payout_refused', key: b.key, reason: err.message, atMs }]);
      await this.deps.events.record({ atMs, event: 'billing.payout_batch_refused', detail: `the ledger refused a payout of ${b.ids.length} receipt(s) to ${b.farmer} as one batch (${err.message}); they are paid one by one`, agent: b.farmer });
      return;
    }
    done.push({ t: 'payout_done', key: b.key, entryId, atMs: this.deps.clock.nowMs() });
  }

  /** Pays each receipt's farmer share under its own key `payout:<receipt id>` (idempotent per receipt). */
  private async payOneByOne(entries: readonly ReceiptEntry[]): Promise<void> {
    const records: MoneyRecord[] = [];
    try {
      for (const e of entries) {
        const r = e.receipt;
        const result = await this.deps.ledger.payFarmer({ key: `payout:${r.id}`, farmer: r.farmer, amountMicros: e.farmerShareMicros, unit: r.unit, receiptIds: [r.id] });
        records.push({ t: 'payout', id: r.id, farmer: r.farmer, amountMicros: e.farmerShareMicros.toString(), entryId: result.entryId, atMs: this.deps.clock.nowMs() });
        if (records.length >= SETTLE_BATCH) await this.deps.receipts.append(records.splice(0));
      }
    } finally {
      await this.deps.receipts.append(records);
    }
  }
}
