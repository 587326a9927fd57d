// Countersignature requests to farmers: sent at once to a connected agent, otherwise kept (bounded) until its agent reconnects.
import type { WebSocket } from 'ws';
import { MAX_RECEIPTS_PER_BATCH_MESSAGE, type Receipt, type ReceiptBodyV2, type SignedTreeHead } from '../../protocol/index.js';
import { sendMessage } from './agent-connection.js';

/** Receipts kept waiting for an offline farmer's countersignature. */
const MAX_PENDING_COUNTERSIGNS = 10_000;
/** Batches (periods) kept waiting for an offline farmer; older ones are asked for again after a restart. */
const MAX_PENDING_BATCHES = 8;

/** A period's receipts of one farmer under the signed tree head they are countersigned against. */
interface PendingBatch {
  readonly head: SignedTreeHead;
  readonly receipts: readonly ReceiptBodyV2[];
}

/**
 * What billing asked farmers to countersign while their agents were away, per farmer: the
 * newest MAX_PENDING_COUNTERSIGNS receipts and MAX_PENDING_BATCHES batches (the oldest go first).
 */
export class CountersignQueue {
  private readonly receipts = new Map<string, Receipt[]>();
  private readonly batches = new Map<string, PendingBatch[]>();

  /** Asks for a countersignature of `receipt`: on `ws` when its farmer's agent is connected, else later. */
  request(ws: WebSocket | undefined, receipt: Receipt): void {
    if (ws) {
      sendMessage(ws, { type: 'countersign', receipt });
      return;
    }
    const list = this.receipts.get(receipt.farmer) ?? [];
    list.push(receipt);
    if (list.length > MAX_PENDING_COUNTERSIGNS) list.shift();
    this.receipts.set(receipt.farmer, list);
  }

  /** Asks `farmer` for one countersignature over its receipts under `head`: on `ws` when connected, else later. */
  requestBatch(ws: WebSocket | undefined, farmer: string, head: SignedTreeHead, receipts: readonly ReceiptBodyV2[]): void {
    if (ws) {
      sendBatch(ws, head, receipts);
      return;
    }
    const list = this.batches.get(farmer) ?? [];
    list.push({ head, receipts });
    if (list.length > MAX_PENDING_BATCHES) list.shift();
    this.batches.set(farmer, list);
  }

  /** Sends everything kept for `farmer` to its agent, which has just been admitted on `ws`, and forgets it. */
  flush(farmer: string, ws: WebSocket): void {
    const waiting = this.receipts.get(farmer) ?? [];
    this.receipts.delete(farmer);
    for (const receipt of waiting) sendMessage(ws, { type: 'countersign', receipt });
    const batches = this.batches.get(farmer) ?? [];
    this.batches.delete(farmer);
    for (const b of batches) sendBatch(ws, b.head, b.receipts);
  }
}

/** A batch request in chunks of MAX_RECEIPTS_PER_BATCH_MESSAGE receipts (a message's size is bounded). */
function sendBatch(ws: WebSocket, head: SignedTreeHead, receipts: readonly ReceiptBodyV2[]): void {
  for (let offset = 0; offset < receipts.length; offset += MAX_RECEIPTS_PER_BATCH_MESSAGE) {
    sendMessage(ws, { type: 'countersign-batch', treeHead: head, total: receipts.length, offset, receipts: receipts.slice(offset, offset + MAX_RECEIPTS_PER_BATCH_MESSAGE) });
  }
}
