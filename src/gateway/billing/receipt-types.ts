// The money log's shared shapes: a receipt and its standing, a period's tree and head, a deployment's history and the totals kept per deployment, period and customer.
import type { Receipt, ReceiptBodyV2 } from '../../protocol/receipt.js';
import type { SignedTreeHead } from '../../protocol/tree-head.js';
import type { PeriodStarts } from './period-starts.js';

/** Where a receipt stands. */
export type ReceiptState = 'issued' | 'arrears' | 'paid' | 'returned';

/** A receipt with its standing. */
export interface ReceiptEntry {
  /** A v1 receipt (signed alone) or a v2 body (a leaf of its period's tree). */
  readonly receipt: Receipt | ReceiptBodyV2;
  /** The v2 receipt's leaf index in its period's tree. */
  readonly index?: number;
  /** blake2b-256 of the receipt's signed bytes: what the next receipt's `prev` names. */
  readonly hash: string;
  readonly periodStartMs: number;
  /** The ledger idempotency key: derived from (deployment, period start). */
  readonly key: string;
  readonly amountMicros: bigint;
  readonly farmerShareMicros: bigint;
  state: ReceiptState;
  paidOut: boolean;
  /** Paid out under its own key (`payout:<id>`), not in a batch: paid before batches began, or its batch was refused. */
  payoutSingly?: boolean;
  /** The key of the begun payout batch it is in. */
  payoutKey?: string;
  /** In arrears and named by an `arrears_retry` record with no outcome recorded yet: its charge may have run. */
  retryBegun?: true;
  /** A v1 receipt's countersignature. */
  farmerSignature?: string;
  /** The v2 receipt's index among the receipts its farmer countersigned in its period (filled when read). */
  farmerBatchIndex?: number;
  countersignRefused?: string;
  /**
   * A held charge's escrow (receipt body `held`): held until released (then billed as usual) or
   * returned (never billed). Returned receipts stay in memory (they are few: deployments that
   * ended with no access); a released one read back from the store shows `released` without when.
   */
  escrow?: { state: 'held' | 'released' | 'returned'; atMs?: number; how?: string };
}

/** A farmer's one countersignature over the receipts it agreed with in a period. */
export interface FarmerBatch {
  readonly size: number;
  readonly root: string;
  readonly signature: string;
  /** Leaf indices of the agreed receipts, in tree order. */
  readonly leaves: Uint32Array;
}

/**
 * A committed period's tree, compact: per leaf the receipt's hash, farmer, deployment and the
 * position of its record in the store (~50 bytes a leaf, not the receipt), plus the farmers'
 * batch countersignatures. Receipt bodies are read back from the store when asked for.
 */
export interface PeriodTree {
  readonly periodStartMs: number;
  readonly head: SignedTreeHead;
  readonly headHash: string;
  readonly size: number;
  /** Receipt hashes (what `prev` names), 32 bytes each, in leaf order. */
  readonly hashes: Uint8Array;
  /** Codes of each leaf's farmer and deployment (ReceiptLog.nameOf). */
  readonly farmers: Uint32Array;
  readonly deployments: Uint32Array;
  /** Where each leaf's receipt record lies in the store. */
  readonly positions: Float64Array;
  /** Farmers' batch countersignatures, by farmer. */
  readonly batches: Map<string, FarmerBatch>;
  /** Farmers who refused the whole batch, with their reason. */
  readonly refusedBy: Map<string, string>;
  /** Single receipts a farmer refused inside its batch. */
  readonly refusedLeaves: Map<number, string>;
  /** Each farmer's leaves in tree order, built on first use. */
  byFarmer?: Map<number, Uint32Array>;
}

/** Every committed period, kept for all time (a few hundred bytes each): its head and where its records lie. */
export interface PeriodHead {
  readonly head: SignedTreeHead;
  readonly headHash: string;
  /** Positions of the first and last receipt record of the close. */
  readonly firstPosition: number;
  readonly lastPosition: number;
  /** Positions of the farmers' batch records for this period. */
  readonly batchPositions: number[];
}

/** A deployment's chain end, where its receipts lie, and its running totals. */
export interface DeploymentHistory {
  lastHash: string;
  /** Period starts of its committed receipts, oldest first, as runs (small however long the history). */
  readonly periodStartsMs: PeriodStarts;
  /** Store positions of its committed receipts, oldest first: those after `olderUpTo` when that is set. */
  positions: number[];
  /** Positions up to this one are not kept: the store reads them back (MoneyStore.receiptPositions). */
  olderUpTo?: number;
  upSeconds: number;
  chargedMicros: bigint;
  /** Charges held by access escrow and not yet released or returned; and those returned. */
  heldMicros: bigint;
  returnedMicros: bigint;
}

/** Totals of one period (by period start), for revenue charts. */
export interface PeriodTotals {
  chargedMicros: bigint;
  farmerSharesMicros: bigint;
  paidOutMicros: bigint;
  arrearsMicros: bigint;
  /** Held charges returned to customers (never billed). */
  returnedMicros?: bigint;
  receipts: number;
}

/** A deployment's totals from its receipts. */
export interface ReceiptTotals {
  readonly upSeconds: number;
  readonly chargedMicros: bigint;
  readonly arrearsMicros: bigint;
  /** Charges held by access escrow now, and those returned (never billed). */
  readonly heldMicros: bigint;
  readonly returnedMicros: bigint;
}

/** What a customer has paid here, all deployments together (the trust tiers read it). */
export interface PaidHistory {
  readonly paidUpSeconds: number;
  readonly paidMicros: bigint;
  /** When the first paid charge's period started, or null before any. */
  readonly firstPaidAtMs: number | null;
}

/** A payout batch begun (its `payout_begin` written) and not yet done or refused. */
export interface OpenPayoutBatch {
  readonly key: string;
  readonly farmer: string;
  readonly unit: string;
  readonly amountMicros: bigint;
  readonly ids: readonly string[];
}

/** What ReceiptLog holds in memory now (for tests and the bench): it must not grow with history. */
export interface ReceiptLogFootprint {
  /** Receipts kept whole: not yet paid, in arrears, paid but not paid out, or v1 receipts. */
  readonly receipts: number;
  /** Period trees kept with their leaves (the last TREES_KEPT, plus a few read back for old proofs). */
  readonly trees: number;
}
