// Builds receipts of both versions the way the gateway issues them (v1 signed bodies; v2 bodies, one signed tree head per period, farmers' batch countersignatures), for protocol, log and agent tests.
import { newIdentity, signJsonStatement, toBase64, toHex, type Identity } from '../../src/identity/index.js';
import { computeCharge } from '../../src/protocol/charge.js';
import { signFarmerBatch } from '../../src/protocol/farmer-batch.js';
import { CHAIN_HEAD_PURPOSE } from '../../src/protocol/heartbeat.js';
import { MerkleTree } from '../../src/protocol/merkle.js';
import { formatAmount, parseAmount, UNIT } from '../../src/protocol/money.js';
import {
  RECEIPT_PURPOSE,
  RECEIPT_V2_PURPOSE,
  receiptHash,
  receiptId,
  receiptLeafHash,
  signReceipt,
  type Receipt,
  type ReceiptAgentHead,
  type ReceiptBody,
  type ReceiptBodyV2,
  type ReceiptFields,
  type ReceiptV2,
} from '../../src/protocol/receipt.js';
import { signTreeHead, TREE_HEAD_PURPOSE, treeHeadHash, type SignedTreeHead } from '../../src/protocol/tree-head.js';
import { sign } from '../../src/identity/index.js';

export const HOUR = 3_600_000;
export const T0 = Date.UTC(2026, 0, 1);

/** The actors: a gateway, a farmer, and a key that is neither. */
export const actors = { gateway: newIdentity(), farmer: newIdentity(), stranger: newIdentity() };

/** Options for one body (of either version). */
export interface BodyOptions {
  deployment?: string;
  startMs?: number;
  /** The period's length (default an hour). */
  periodMs?: number;
  upSeconds?: number;
  pricePerHour?: string;
  prev?: string | null;
  /** The farmer the receipt names, whose key signs its chain head (default actors.farmer; no key needed without a head). */
  farmer?: Pick<Identity, 'agent'> & Partial<Pick<Identity, 'secretKey'>>;
  /** The gateway that issues it (default actors.gateway). */
  gateway?: Pick<Identity, 'agent'>;
  customer?: string;
  withHead?: boolean;
}

/** The farmer's signed chain head for a period, as its agent makes it; `signer` is the farmer unless a test forges it. */
export function agentHead(periodStartMs: number, periodEndMs: number, o: { farmer?: Pick<Identity, 'agent' | 'secretKey'>; signer?: Pick<Identity, 'secretKey'>; gateway?: Pick<Identity, 'agent'>; seq?: number } = {}): ReceiptAgentHead {
  const farmer = o.farmer ?? actors.farmer;
  const seq = o.seq ?? 240;
  const head = 'ab'.repeat(32);
  const statement = { agent: farmer.agent, gateway: (o.gateway ?? actors.gateway).agent, periodStartMs, periodEndMs, seq, head };
  return { periodStartMs, periodEndMs, seq, head, signature: toBase64(signJsonStatement((o.signer ?? farmer).secretKey, CHAIN_HEAD_PURPOSE, statement)) };
}

/** The fields both versions share, consistent: the charge by the rule, split 90/10, with the farmer's signed chain head. */
export function receiptFields(o: BodyOptions = {}): ReceiptFields {
  const deployment = o.deployment ?? 'dep_0011223344556677';
  const startMs = o.startMs ?? T0;
  const endMs = startMs + (o.periodMs ?? HOUR);
  const upSeconds = o.upSeconds ?? 3540;
  const pricePerHour = o.pricePerHour ?? '0.050000';
  const farmer = o.farmer ?? actors.farmer;
  const gateway = o.gateway ?? actors.gateway;
  const c = computeCharge(parseAmount('pricePerHour', pricePerHour), upSeconds, 9000);
  return {
    id: receiptId(deployment, startMs),
    deployment,
    customer: o.customer ?? 'uhCAkcustomer',
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
    gateway: gateway.agent,
    issuedAt: new Date(endMs + 60_000).toISOString(),
    final: false,
    agentHead: o.withHead === false ? null : agentHead(startMs, endMs, { farmer: withKey(farmer), gateway }),
  };
}

function withKey(farmer: Pick<Identity, 'agent'> & Partial<Pick<Identity, 'secretKey'>>): Pick<Identity, 'agent' | 'secretKey'> {
  if (farmer.secretKey === undefined) throw new Error(`receipt fixture: a chain head needs farmer ${farmer.agent}'s secret key (or withHead: false)`);
  return { agent: farmer.agent, secretKey: farmer.secretKey };
}

/** A consistent v1 body (signed as a whole by the gateway). */
export function v1Body(o: BodyOptions = {}): ReceiptBody {
  return { v: 1, purpose: RECEIPT_PURPOSE, ...receiptFields(o) };
}

/** A v1 receipt: `v1Body` signed by the gateway's key (actors.gateway unless `signer` is given). */
export function v1Receipt(o: BodyOptions = {}, signer: Pick<Identity, 'secretKey'> = actors.gateway): Receipt {
  return signReceipt(v1Body(o), signer.secretKey);
}

/** A consistent v2 body (a leaf of its period's tree). */
export function v2Body(o: BodyOptions = {}): ReceiptBodyV2 {
  return { v: 2, purpose: RECEIPT_V2_PURPOSE, ...receiptFields(o) };
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
