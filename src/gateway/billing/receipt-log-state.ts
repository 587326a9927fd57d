// What ReceiptLog rebuilds when it opens: the shape a checkpoint saves and restores instead of replaying the whole log.
import type { DeploymentHistory, OpenPayoutBatch, PeriodHead, PeriodTotals, PeriodTree, ReceiptEntry, ReceiptState } from './receipt-types.js';

/**
 * ReceiptLog's open state after replaying the log up to `position` (caches left out: trees read back,
 * built Merkle trees). Live entries are shared between `live`, `byState` and `owedPayout`, as in ReceiptLog.
 * Map and set orders are part of the state (listings answer in them).
 */
export interface ReceiptLogState {
  /** Store position of the last record this state includes. */
  readonly position: number;
  readonly live: Map<string, ReceiptEntry>;
  /** Each state's live entries and those owed a payout, in order (MoneyState's lists; a decoded checkpoint's sets). */
  readonly byState: Record<ReceiptState, Iterable<ReceiptEntry>>;
  readonly owedPayout: Iterable<ReceiptEntry>;
  readonly deployments: Map<string, DeploymentHistory>;
  readonly periods: Map<number, PeriodTotals>;
  readonly customerArrears: Map<string, bigint>;
  readonly released: Map<string, { readonly atMs: number; readonly how: string }>;
  readonly customerPaid: Map<string, { paidUpSeconds: number; paidMicros: bigint; firstPaidAtMs: number | null }>;
  readonly deploymentArrears: Map<string, bigint>;
  readonly heads: Map<number, PeriodHead>;
  /** The last TREES_KEPT committed trees, oldest first. */
  readonly recent: Map<number, PeriodTree>;
  /** Farmer and deployment names by code (trees store codes). */
  readonly names: readonly string[];
  readonly lastHeadHash: string | null;
  readonly receiptCount: number;
  readonly payoutBatched: boolean;
  readonly openPayouts: Map<string, OpenPayoutBatch>;
}
