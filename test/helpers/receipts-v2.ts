// Builds v2 receipts the way the gateway issues them (bodies, one signed tree head per period, farmers' batch countersignatures), for protocol and log tests.
import { newIdentity, signJsonStatement, toBase64, toHex, type Identity } from '../../src/identity/index.js';
import { computeCharge } from '../../src/protocol/charge.js';
import { signFarmerBatch } from '../../src/protocol/farmer-batch.js';
import { CHAIN_HEAD_PURPOSE } from '../../src/protocol/heartbeat.js';
import { MerkleTree } from '../../src/protocol/merkle.js';
import { formatAmount, parseAmount, UNIT } from '../../src/protocol/money.js';
import { RECEIPT_V2_PURPOSE, receiptHash, receiptId, receiptLeafHash, type ReceiptBodyV2, type ReceiptV2 } from '../../src/protocol/receipt.js';
import { signTreeHead, TREE_HEAD_PURPOSE, treeHeadHash, type SignedTreeHead } from '../../src/protocol/tree-head.js';
import { sign } from '../../src/identity/index.js';

export const HOUR = 3_600_000;
export const T0 = Date.UTC(2026, 0, 1);

/** The actors: a gateway, a farmer, and a key that is neither. */
export const actors = { gateway: newIdentity(), farmer: newIdentity(), stranger: newIdentity() };

/** Options for one body. */
export interface V2BodyOptions {
  deployment?: string;
  startMs?: number;
  upSeconds?: number;
  pricePerHour?: string;
  prev?: string | null;
  farmer?: Identity;
  withHead?: boolean;
}

/** A consistent v2 body: the charge by the rule, split 90/10, with the farmer's signed chain head. */
export function v2Body(o: V2BodyOptions = {}): ReceiptBodyV2 {
  const deployment = o.deployment ?? 'dep_0011223344556677';
  const startMs = o.startMs ?? T0;
  const endMs = startMs + HOUR;
  const upSeconds = o.upSeconds ?? 3540;
  const pricePerHour = o.pricePerHour ?? '0.050000';
  const farmer = o.farmer ?? actors.farmer;
  const c = computeCharge(parseAmount('pricePerHour', pricePerHour), upSeconds, 9000);
  const statement = { agent: farmer.agent, gateway: actors.gateway.agent, periodStartMs: startMs, periodEndMs: endMs, seq: 240, head: 'ab'.repeat(32) };
  return {
    v: 2,
    purpose: RECEIPT_V2_PURPOSE,
    id: receiptId(deployment, startMs),
    deployment,
    customer: 'uhCAkcustomer',
    farmer: farmer.agent,
    node: 'node-1',
    offer: 'small',
    periodStart: new Date(startMs).toISOString(),
    periodEnd: new Date(endMs).toISOString(),
    upSeconds,
    pricePerHour,
    amount: formatAmount(c.amountMicros),
    farmerShare: formatAmount(c.farmerShareMicros),
    fee: formatAmount(c.feeMicros),
    unit: UNIT,
    prev: o.prev === undefined ? null : o.prev,
    gateway: actors.gateway.agent,
    issuedAt: new Date(endMs + 60_000).toISOString(),
    final: false,
    agentHead: o.withHead === false ? null : { periodStartMs: startMs, periodEndMs: endMs, seq: 240, head: 'ab'.repeat(32), signature: toBase64(signJsonStatement(farmer.secretKey, CHAIN_HEAD_PURPOSE, statement)) },
  };
}

/** The signed head of a period's tree over `bodies` (in this order). */
export function headOver(bodies: readonly ReceiptBodyV2[], startMs: number, prev: string | null, signer: Identity = actors.gateway): SignedTreeHead {
  const tree = MerkleTree.fromLeafHashes(bodies.map((b) => receiptLeafHash(receiptHash(b))));
  return signTreeHead(
    { v: 1, purpose: TREE_HEAD_PURPOSE, gateway: actors.gateway.agent, periodStart: new Date(startMs).toISOString(), periodEnd: new Date(startMs + HOUR).toISOString(), size: bodies.length, root: toHex(tree.root()), issuedAt: new Date(startMs + HOUR + 60_000).toISOString(), prev },
    (m) => sign(signer.secretKey, m),
  );
}

/**
 * A period closed as the gateway closes it: the head, then each body served with its index and
 * proof; receipts of farmers in `countersigners` carry that farmer's batch countersignature.
 */
export function closeOf(bodies: readonly ReceiptBodyV2[], startMs: number, prev: string | null, countersigners: readonly Identity[] = []): { head: SignedTreeHead; receipts: ReceiptV2[] } {
  const head = headOver(bodies, startMs, prev);
  const tree = MerkleTree.fromLeafHashes(bodies.map((b) => receiptLeafHash(receiptHash(b))));
  const receipts: ReceiptV2[] = bodies.map((b, index) => ({ ...b, treeHead: head, index, proof: tree.inclusionProof(index).map(toHex) }));
  for (const farmer of countersigners) {
    const mine = receipts.map((r, i) => [r, i] as const).filter(([r]) => r.farmer === farmer.agent);
    if (mine.length === 0) continue;
    const sub = MerkleTree.fromLeafHashes(mine.map(([r]) => receiptLeafHash(receiptHash(r))));
    const root = toHex(sub.root());
    const signature = signFarmerBatch({ farmer: farmer.agent, treeHead: treeHeadHash(head), size: mine.length, root }, farmer.secretKey);
    mine.forEach(([r, i], k) => {
      receipts[i] = { ...r, countersign: { size: mine.length, root, index: k, proof: sub.inclusionProof(k).map(toHex), signature } };
    });
  }
  return { head, receipts };
}
