// The agent's side of batch countersigning: gathers a period's receipts chunk by chunk, checks each, and signs once over those it agrees with.
import { toHex } from '../identity/index.js';
import {
  MAX_REFUSED_PER_BATCH,
  MerkleTree,
  checkReceiptBodyV2,
  checkTreeHead,
  receiptHash,
  receiptLeafHash,
  signFarmerBatch,
  treeHeadHash,
  type AgentMessage,
  type CountersignBatchMessage,
  type ReceiptBodyV2,
  type SignedTreeHead,
} from '../protocol/index.js';
import { OPTIMISE_FROM_BATCH } from './v8-tiering.js';

/** Batches being gathered at once (periods); a gateway resends what was dropped. */
const MAX_OPEN_BATCHES = 4;
/** Most receipts one farmer's batch may hold. */
const MAX_BATCH_RECEIPTS = 200_000;

/** What the countersigner needs: the farmer's key and how to judge one receipt against the agent's own record. */
export interface BatchCountersignerDeps {
  readonly farmer: string;
  readonly secretKey: Uint8Array;
  /** The pinned gateway key, if known. */
  gateway(): string | undefined;
  /** Why this agent disagrees with a (well-formed) receipt of its own, or null when it matches its record. */
  disagreement(receipt: ReceiptBodyV2): string | null;
  /** Called once, at the first chunk of a batch of at least OPTIMISE_FROM_BATCH receipts (the agent then turns V8's optimising compiler on). */
  onLargeBatch?(total: number): void;
}

interface OpenBatch {
  readonly head: SignedTreeHead;
  readonly receipts: Array<ReceiptBodyV2 | undefined>;
  received: number;
}

/**
 * Gathers `countersign-batch` chunks by tree head. Once a batch is whole it checks the head's
 * gateway signature, then every receipt (shape, arithmetic, that it is this farmer's, inside
 * the head's period, and matches the agent's own record), and answers with one signature over
 * the Merkle root of the receipts it agrees with, naming those it refuses; or refuses the batch.
 */
export class BatchCountersigner {
  private readonly open = new Map<string, OpenBatch>();
  private largeSeen = false;

  constructor(private readonly deps: BatchCountersignerDeps) {}

  /** Takes one chunk; the answer once the batch is complete, else null. */
  receive(m: CountersignBatchMessage): AgentMessage | null {
    const headHash = treeHeadHash(m.treeHead);
    if (m.total > MAX_BATCH_RECEIPTS) return { type: 'batch-countersign-refused', treeHead: headHash, reason: `a batch of ${m.total} receipts is more than this agent checks (${MAX_BATCH_RECEIPTS})` };
    if (m.total >= OPTIMISE_FROM_BATCH && !this.largeSeen) {
      this.largeSeen = true;
      this.deps.onLargeBatch?.(m.total);
    }
    let batch = this.open.get(headHash);
    if (!batch || batch.receipts.length !== m.total) {
      if (this.open.size >= MAX_OPEN_BATCHES) this.open.delete(this.open.keys().next().value as string);
      batch = { head: m.treeHead, receipts: new Array<ReceiptBodyV2 | undefined>(m.total), received: 0 };
      this.open.set(headHash, batch);
    }
    const open = batch;
    m.receipts.forEach((r, i) => {
      const at = m.offset + i;
      if (at >= m.total || open.receipts[at] !== undefined) return;
      open.receipts[at] = r;
      open.received++;
    });
    if (batch.received < m.total) return null;
    this.open.delete(headHash);
    return this.judge(headHash, batch.head, batch.receipts as ReceiptBodyV2[]);
  }

  private judge(headHash: string, head: SignedTreeHead, receipts: readonly ReceiptBodyV2[]): AgentMessage {
    const refuse = (reason: string): AgentMessage => ({ type: 'batch-countersign-refused', treeHead: headHash, reason });
    const headReason = checkTreeHead(head, this.deps.gateway());
    if (headReason) return refuse(`the tree head does not verify: ${headReason}`);
    const startMs = Date.parse(head.periodStart);
    const endMs = Date.parse(head.periodEnd);
    const agreed: Uint8Array[] = [];
    const refused: Array<{ receiptId: string; reason: string }> = [];
    for (const r of receipts) {
      const reason = this.check(r, startMs, endMs);
      if (reason === null) agreed.push(receiptLeafHash(receiptHash(r)));
      else refused.push({ receiptId: String(r.id).slice(0, 64), reason: reason.slice(0, 200) });
    }
    if (agreed.length === 0) return refuse(refused[0]?.reason ?? 'no receipts');
    if (refused.length > MAX_REFUSED_PER_BATCH) return refuse(`${refused.length} of ${receipts.length} receipts disagree with this agent's record; the first: ${refused[0]?.reason ?? ''}`);
    const root = toHex(MerkleTree.fromLeafHashes(agreed).root());
    const signature = signFarmerBatch({ farmer: this.deps.farmer, treeHead: headHash, size: agreed.length, root }, this.deps.secretKey);
    return { type: 'batch-countersigned', treeHead: headHash, size: agreed.length, root, signature, refused };
  }

  private check(r: ReceiptBodyV2, headStartMs: number, headEndMs: number): string | null {
    const shape = checkReceiptBodyV2(r);
    if (shape) return `the receipt does not verify: ${shape}`;
    if (r.farmer !== this.deps.farmer) return 'the receipt names another farmer';
    if (Date.parse(r.periodStart) < headStartMs || Date.parse(r.periodEnd) > headEndMs) return "the receipt's period is outside its tree head's";
    return this.deps.disagreement(r);
  }
}
