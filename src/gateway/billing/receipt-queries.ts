// What ReceiptLog answers about receipts that may have left memory: a deployment's receipts read back from the store, with their farmers' batch standing, and a receipt as shown to people with its proofs.
import { toHex } from '../../identity/index.js';
import type { AnyReceipt } from '../../protocol/receipt.js';
import { settledEntry, type MoneyState } from './money-state.js';
import type { MoneyStore } from './money-store.js';
import { indexIn, type PeriodTrees } from './period-trees.js';
import type { ReceiptEntry } from './receipt-types.js';

/** What the queries read: the open store (asked for only when a read needs it: it throws when the log is not open), the money state and the trees. */
export interface ReceiptSources {
  readonly store: () => MoneyStore;
  readonly money: MoneyState;
  readonly trees: PeriodTrees;
}

/** A deployment's receipts, oldest first, read back from the store where they left memory, with their farmers' batch standing. */
export async function receiptsOf(sources: ReceiptSources, deployment: string): Promise<ReceiptEntry[]> {
  const out: ReceiptEntry[] = [];
  for (const e of await listedReceipts(sources, deployment)) out.push(await withBatchStanding(sources, e));
  return out;
}

/**
 * A deployment's receipts as `receiptsOf` answers them, but without the batch standing (farmerBatchIndex,
 * countersignRefused), which costs a read of each old period's tree: enough for `presentReceipt`, which
 * reads the standing from the tree itself for the receipts it shows (bench/requests: a customer's
 * receipts page read every old period's tree for every receipt, not only the page's).
 */
export async function listedReceipts(sources: ReceiptSources, deployment: string): Promise<ReceiptEntry[]> {
  const h = sources.money.deployments.get(deployment);
  if (!h) return [];
  const store = sources.store();
  // A copy: a close that commits while the store reads pushes onto h.positions, and the store must
  // be answered for the positions it was asked (bench/requests met "no record at position" on PostgreSQL).
  const kept = [...h.positions];
  const older = h.olderUpTo === undefined ? [] : await olderPositions(store, deployment, h.olderUpTo);
  const records = await store.read([...older, ...kept]);
  const out: ReceiptEntry[] = [];
  for (const r of records) {
    if (r.t !== 'receipt') throw new Error(`receipts.log: a position of ${deployment} holds a ${r.t} record, not its receipt`);
    out.push(sources.money.live.get(r.receipt.id) ?? settledEntry(r, sources.money.released.get(r.receipt.id)));
  }
  return out;
}

/**
 * The receipt as shown to people: a v1 receipt with the farmer's countersignature when there
 * is one; a v2 receipt with its tree head, inclusion proof and, once given, the farmer's batch
 * countersignature with the receipt's proof in the farmer's sub-tree. A proof of a period older
 * than the last TREES_KEPT reads that period's leaves back from the store.
 */
export async function presentReceipt(sources: ReceiptSources, e: ReceiptEntry): Promise<AnyReceipt> {
  const r = e.receipt;
  if (r.v === 1) return e.farmerSignature === undefined ? r : { ...r, signatures: { ...r.signatures, farmer: e.farmerSignature } };
  const escrow = e.escrow === undefined ? {} : { escrow: { state: e.escrow.state, ...(e.escrow.atMs !== undefined ? { at: new Date(e.escrow.atMs).toISOString() } : {}), ...(e.escrow.how !== undefined ? { how: e.escrow.how } : {}) } };
  const tree = await sources.trees.treeOf(sources.store(), e.periodStartMs);
  if (!tree) throw new Error(`receipts.log: receipt ${r.id} has no tree head for its period`);
  const index = e.index as number;
  const proof = sources.trees.builtTree(`${e.periodStartMs}`, tree, null).inclusionProof(index).map(toHex);
  const batch = tree.batches.get(r.farmer);
  const batchIndex = batch ? indexIn(batch.leaves, index) : -1;
  if (batch === undefined || batchIndex < 0) return { ...r, treeHead: tree.head, index, proof, ...escrow };
  const farmerProof = sources.trees.builtTree(`${e.periodStartMs}:${r.farmer}`, tree, batch.leaves).inclusionProof(batchIndex).map(toHex);
  return { ...r, treeHead: tree.head, index, proof, countersign: { size: batch.size, root: batch.root, index: batchIndex, proof: farmerProof, signature: batch.signature }, ...escrow };
}

/** A deployment's receipt positions up to `upTo`, which the log no longer keeps, read back from the store. */
async function olderPositions(store: MoneyStore, deployment: string, upTo: number): Promise<number[]> {
  if (!store.receiptPositions) throw new Error(`receipts.log: the positions of ${deployment}'s older receipts were left to a store that cannot read them back`);
  return store.receiptPositions(deployment, upTo);
}

/** A v2 entry with its farmer's batch standing filled in from its tree. */
async function withBatchStanding(sources: ReceiptSources, e: ReceiptEntry): Promise<ReceiptEntry> {
  if (e.receipt.v !== 2 || e.index === undefined) return e;
  const tree = await sources.trees.treeOf(sources.store(), e.periodStartMs);
  if (!tree) return e;
  const farmer = e.receipt.farmer;
  const batch = tree.batches.get(farmer);
  const batchIndex = batch ? indexIn(batch.leaves, e.index) : -1;
  const refused = tree.refusedBy.get(farmer) ?? tree.refusedLeaves.get(e.index);
  return { ...e, ...(batchIndex >= 0 ? { farmerBatchIndex: batchIndex } : {}), ...(refused === undefined ? {} : { countersignRefused: refused }) };
}
