// The lines of the money log (receipts.log): receipts, tree heads, countersignatures and what became of each charge.
import type { Receipt, ReceiptBodyV2 } from '../../protocol/receipt.js';
import type { SignedTreeHead } from '../../protocol/tree-head.js';

/**
 * One line of the money log. A v2 close is `close_begin`, its receipts (with their leaf
 * index), then `tree_head`: the head commits them, so receipts of a close whose head never
 * reached the disk (a crash mid-close) are left out when the log is read, and issued again.
 */
export type MoneyRecord =
  | { readonly t: 'receipt'; readonly receipt: Receipt | ReceiptBodyV2; readonly periodStartMs: number; readonly key: string; readonly hash?: string; readonly index?: number }
  | { readonly t: 'close_begin'; readonly periodStartMs: number }
  | { readonly t: 'tree_head'; readonly periodStartMs: number; readonly head: SignedTreeHead }
  | { readonly t: 'batch_countersign'; readonly periodStartMs: number; readonly farmer: string; readonly size: number; readonly root: string; readonly signature: string; readonly refused: readonly string[]; readonly atMs: number }
  | { readonly t: 'batch_countersign_refused'; readonly periodStartMs: number; readonly farmer: string; readonly reason: string; readonly atMs: number }
  | { readonly t: 'countersign'; readonly id: string; readonly signature: string; readonly atMs: number }
  | { readonly t: 'countersign_refused'; readonly id: string; readonly reason: string; readonly atMs: number }
  | { readonly t: 'paid'; readonly id: string; readonly entryId: string | null; readonly atMs: number }
  /** Receipts paid in one settle batch: `entryIds[i]` is the ledger's entry for `ids[i]` (null for a zero charge). Same as a `paid` record for each. */
  | { readonly t: 'paid_batch'; readonly ids: readonly string[]; readonly entryIds: ReadonlyArray<string | null>; readonly atMs: number }
  | { readonly t: 'arrears'; readonly id: string; readonly availableMicros: string; readonly atMs: number }
  /**
   * Written before receipts in arrears are posted again: after a crash each one still in arrears is
   * posted once more whatever the balance says (the ledger answers "paid" under its key if the charge
   * ran), so a charge made just before the crash is recorded paid instead of waiting for more funds.
   */
  | { readonly t: 'arrears_retry'; readonly ids: readonly string[]; readonly atMs: number }
  /** The retry of these receipts ended with them still in arrears (the ledger refused, or they were not reached). */
  | { readonly t: 'arrears_retry_end'; readonly ids: readonly string[]; readonly atMs: number }
  | { readonly t: 'payout'; readonly id: string; readonly farmer: string; readonly amountMicros: string; readonly entryId: string | null; readonly atMs: number }
  /** From here on, receipts paid are paid out in batches per farmer (those paid before may have been posted under their own key by an older gateway). */
  | { readonly t: 'payout_mode'; readonly mode: 'batched'; readonly atMs: number }
  /** Written before a batch payout is posted: after a crash it is posted again with the same key and receipts, never under another. */
  | { readonly t: 'payout_begin'; readonly key: string; readonly farmer: string; readonly unit: string; readonly amountMicros: string; readonly ids: readonly string[]; readonly atMs: number }
  | { readonly t: 'payout_done'; readonly key: string; readonly entryId: string | null; readonly atMs: number }
  /** The ledger refused the batch as invalid (nothing was paid under its key): its receipts are paid out one by one, never batched again. */
  | { readonly t: 'payout_refused'; readonly key: string; readonly reason: string; readonly atMs: number }
  | EscrowRecord;

/** Access escrow (gateway/escrow/): a held charge released to be billed, or returned and never billed. */
export type EscrowRecord =
  | { readonly t: 'escrow_release'; readonly id: string; readonly how: string; readonly atMs: number }
  | { readonly t: 'escrow_return'; readonly id: string; readonly how: string; readonly atMs: number };
