// The farmer's one countersignature per period: over the gateway's tree head and the Merkle root of the farmer's own receipts in it.
import { jsonStatementBytes, signJsonStatement, toBase64 } from '../identity/index.js';

/** The purpose tag of a farmer's batch countersignature. */
export const FARMER_BATCH_PURPOSE = 'hypha/farmer-batch/v1';

/**
 * What a farmer's agent signs once per period, after checking every receipt of its own in the
 * period's tree against its own record: the head it read them under, and an RFC 9162 root over
 * the leaf hashes of the receipts it agrees with (in tree order; refused ones are left out).
 */
export interface FarmerBatchStatement {
  readonly farmer: string;
  /** treeHeadHash of the period's signed tree head. */
  readonly treeHead: string;
  /** Receipts the farmer agrees with. */
  readonly size: number;
  /** Merkle root (hex) over those receipts' leaf hashes. */
  readonly root: string;
}

/** As a v2 receipt carries it: the farmer's batch signature and the receipt's place in the farmer's sub-tree. */
export interface ReceiptCountersign {
  readonly size: number;
  readonly root: string;
  readonly index: number;
  readonly proof: readonly string[];
  readonly signature: string;
}

/** The bytes a farmer's batch countersignature covers. */
export function farmerBatchBytes(statement: FarmerBatchStatement): Uint8Array {
  return jsonStatementBytes(FARMER_BATCH_PURPOSE, { ...statement });
}

/** Signs a batch statement with the farmer's key (base64). */
export function signFarmerBatch(statement: FarmerBatchStatement, farmerSecretKey: Uint8Array): string {
  return toBase64(signJsonStatement(farmerSecretKey, FARMER_BATCH_PURPOSE, { ...statement }));
}
