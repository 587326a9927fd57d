// Farmers' countersignatures of receipts: asking for them (per period's tree, or per v1 receipt) and checking and keeping their answers.
import { toHex } from '../../identity/index.js';
import { farmerBatchBytes } from '../../protocol/farmer-batch.js';
import { MerkleTree } from '../../protocol/merkle.js';
import { receiptLeafHash, type ReceiptBodyV2 } from '../../protocol/receipt.js';
import { signatureHolds, type SignedTreeHead } from '../../protocol/tree-head.js';
import type { BillingDeps } from './billing-deps.js';

/** A farmer's answer to a batch countersign request. */
export type BatchCountersignResult =
  | { readonly size: number; readonly root: string; readonly signature: string; readonly refused: ReadonlyArray<{ readonly receiptId: string; readonly reason: string }> }
  | { readonly reason: string };

/** What countersignatures need of the gateway. */
export type FarmerCountersignsDeps = Pick<BillingDeps, 'clock' | 'receipts' | 'agents' | 'events' | 'policy'>;

/** Asks farmers to countersign their receipts and keeps an answer only if it checks out against what the gateway issued; billing never waits for it. */
export class FarmerCountersigns {
  constructor(private readonly deps: FarmerCountersignsDeps) {}

  /** One request per farmer, with that farmer's receipts in tree order. */
  requestBatchCountersigns(head: SignedTreeHead, receipts: readonly ReceiptBodyV2[]): void {
    const byFarmer = new Map<string, ReceiptBodyV2[]>();
    for (const r of receipts) {
      const list = byFarmer.get(r.farmer);
      if (list) list.push(r);
      else byFarmer.set(r.farmer, [r]);
    }
    for (const [farmer, list] of byFarmer) this.deps.agents.requestBatchCountersign(farmer, head, list);
  }

  /**
   * A farmer's agent answered a batch countersign request: a signature over the tree head and
   * the root of the receipts it agrees with (all of its receipts in the tree but those it
   * refused, in tree order), or a refusal of the whole batch. Kept only if the root and the
   * signature check out against what the gateway issued.
   */
  async onBatchCountersign(headHash: string, agent: string, result: BatchCountersignResult): Promise<void> {
    const receipts = this.deps.receipts;
    const tree = receipts.treeByHeadHash(headHash);
    if (!tree || tree.batches.has(agent) || tree.refusedBy.has(agent)) return;
    const mine = receipts.farmerLeaves(tree, agent);
    if (mine.length === 0) return;
    const periodStartMs = tree.periodStartMs;
    const now = this.deps.clock.nowMs();
    const period = tree.head.periodStart;
    if ('reason' in result) {
      await this.deps.receipts.append([{ t: 'batch_countersign_refused', periodStartMs, farmer: agent, reason: result.reason, atMs: now }]);
      await this.deps.events.record({ atMs: now, event: 'receipt.countersign_refused', detail: `the farmer refused to countersign its ${mine.length} receipt(s) of the period starting ${period}: ${result.reason}`, agent });
      return;
    }
    const refused = new Map(result.refused.map((r) => [r.receiptId, r.reason]));
    // Receipt ids are worked out only when the farmer refused some (each is a hash).
    const idOf = (i: number): string => receipts.leafReceiptId(tree, i);
    const agreed = refused.size === 0 ? [...mine] : [...mine].filter((i) => !refused.has(idOf(i)));
    const root = agreed.length === 0 ? '' : toHex(MerkleTree.fromLeafHashes(agreed.map((i) => receiptLeafHash(receipts.leafHash(tree, i)))).root());
    const statement = { farmer: agent, treeHead: headHash, size: agreed.length, root };
    if (agreed.length === 0 || result.size !== agreed.length || result.root !== root || !signatureHolds(result.signature, farmerBatchBytes(statement), agent)) {
      await this.deps.events.record({ atMs: now, event: 'receipt.countersign_invalid', detail: `the farmer's batch countersignature for the period starting ${period} does not match its receipts or does not verify`, agent });
      return;
    }
    const refusedLeaves = refused.size === 0 ? [] : [...mine].filter((i) => refused.has(idOf(i)));
    await receipts.append([{ t: 'batch_countersign', periodStartMs, farmer: agent, size: agreed.length, root, signature: result.signature, refused: refusedLeaves.map(idOf), atMs: now }]);
    for (const r of await receipts.leafBodies(tree, refusedLeaves.slice(0, 20))) {
      await this.deps.events.record({ atMs: now, event: 'receipt.countersign_refused', detail: `the farmer refused to countersign ${r.id}: ${String(refused.get(r.id))}`, deployment: r.deployment, customer: r.customer, agent });
    }
  }

  /** A farmer's agent answered a countersign request for a v1 receipt. */
  async onCountersign(receiptId: string, agent: string, result: { signature: string } | { reason: string }): Promise<void> {
    const e = this.deps.receipts.get(receiptId);
    if (!e || e.receipt.v !== 1 || e.receipt.farmer !== agent || e.farmerSignature !== undefined || e.countersignRefused !== undefined) return;
    const now = this.deps.clock.nowMs();
    if ('signature' in result) {
      if (!this.deps.agents.verifyCountersignature(e.receipt, result.signature)) {
        await this.deps.events.record({ atMs: now, event: 'receipt.countersign_invalid', detail: `the farmer's countersignature of ${receiptId} does not verify`, deployment: e.receipt.deployment, agent });
        return;
      }
      await this.deps.receipts.append([{ t: 'countersign', id: receiptId, signature: result.signature, atMs: now }]);
      return;
    }
    await this.deps.receipts.append([{ t: 'countersign_refused', id: receiptId, reason: result.reason, atMs: now }]);
    await this.deps.events.record({ atMs: now, event: 'receipt.countersign_refused', detail: `the farmer refused to countersign ${receiptId}: ${result.reason}`, deployment: e.receipt.deployment, customer: e.receipt.customer, agent });
  }

  /** Re-asks farmers for countersignatures still missing from the last few periods (after a restart); their receipts are read back from the log. */
  async requestMissingCountersigns(): Promise<void> {
    const receipts = this.deps.receipts;
    const since = this.deps.clock.nowMs() - 8 * this.deps.policy.periodMs;
    for (const e of receipts.awaitingCountersign(since)) if (e.receipt.v === 1) this.deps.agents.requestCountersign(e.receipt);
    for (const { tree, farmers } of receipts.awaitingBatchCountersign(since)) {
      for (const farmer of farmers) this.deps.agents.requestBatchCountersign(farmer, tree.head, await receipts.leafBodies(tree, receipts.farmerLeaves(tree, farmer)));
    }
  }
}
