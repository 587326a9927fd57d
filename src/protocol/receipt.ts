// Usage receipts: their shape, the bytes that are signed, their hash chain, and offline verification.
import { errorMessage } from '../identity/error-message.js';
import {
  blake2b,
  blake2bHex,
  canonicalJsonBytes,
  decodeAgentPubKey,
  fromBase64,
  fromHex,
  jsonStatementBytes,
  sign,
  toBase64,
  toHex,
  verifyJsonStatement,
} from '../identity/index.js';
import { computeCharge } from './charge.js';
import { farmerBatchBytes, type ReceiptCountersign } from './farmer-batch.js';
import { CHAIN_HEAD_PURPOSE } from './heartbeat.js';
import { blake2bMerkleHasher, verifyInclusion } from './merkle.js';
import { AmountError, formatAmount, parseAmount } from './money.js';
import { checkTreeHead, hashBytes, signatureHolds, treeHeadHash, type SignedTreeHead } from './tree-head.js';

/** The purpose tag v1 receipts are signed under (one gateway signature per receipt). */
export const RECEIPT_PURPOSE = 'hypha/receipt/v1';
/** The purpose tag of v2 receipts (leaves of a period's signed Merkle tree). */
export const RECEIPT_V2_PURPOSE = 'hypha/receipt/v2';

/** The agent's signed chain head for the period, as carried in a receipt. */
export interface ReceiptAgentHead {
  readonly periodStartMs: number;
  readonly periodEndMs: number;
  readonly seq: number;
  readonly head: string;
  readonly signature: string;
}

/** What every receipt version says about a deployment's period. */
export interface ReceiptFields {
  readonly id: string;
  readonly deployment: string;
  readonly customer: string;
  readonly farmer: string;
  readonly node: string;
  readonly offer: string;
  readonly periodStart: string;
  readonly periodEnd: string;
  readonly upSeconds: number;
  readonly pricePerHour: string;
  readonly amount: string;
  readonly farmerShare: string;
  readonly fee: string;
  readonly unit: string;
  /** blake2b-256 (hex) of the previous receipt's signed bytes for this deployment, or null. */
  readonly prev: string | null;
  readonly gateway: string;
  readonly issuedAt: string;
  /** True for the last receipt of a deployment that ended. */
  readonly final: boolean;
  readonly agentHead: ReceiptAgentHead | null;
  /**
   * Present only when the gateway's probes disagreed with the farmer's agent in the period:
   * both sides' up-seconds. `upSeconds` is then the smaller of the two (gateway/uptime/disputed-uptime.ts).
   */
  readonly dispute?: { readonly agentUpSeconds: number; readonly gatewayUpSeconds: number };
  /**
   * Present (true) when the charge was issued while the customer's access was not yet verified:
   * it is held, not billed, until access is verified (released) or a complaint ends the
   * deployment (returned). How it ended is served beside the body as `escrow`.
   */
  readonly held?: true;
}

/** A v1 usage receipt without signatures: exactly what is signed (as canonical JSON). */
export interface ReceiptBody extends ReceiptFields {
  readonly v: 1;
  readonly purpose: typeof RECEIPT_PURPOSE;
}

/** A v1 receipt with its signatures (base64 ed25519 over the canonical JSON of the body). */
export interface Receipt extends ReceiptBody {
  readonly signatures: { readonly gateway: string; readonly farmer?: string };
}

/** A v2 receipt body: the same fields, hashed (not signed) into the period's tree. */
export interface ReceiptBodyV2 extends ReceiptFields {
  readonly v: 2;
  readonly purpose: typeof RECEIPT_V2_PURPOSE;
}

/**
 * A v2 receipt as customers get it: the body, the period's signed tree head, the receipt's
 * leaf index and its RFC 9162 inclusion proof (hex, lowest sibling first), and the farmer's
 * batch countersignature with the receipt's place in the farmer's sub-tree, once given.
 */
export interface ReceiptV2 extends ReceiptBodyV2 {
  readonly treeHead: SignedTreeHead;
  readonly index: number;
  readonly proof: readonly string[];
  readonly countersign?: ReceiptCountersign;
  /** For a held charge: where its escrow stands now (not hashed: it changes after the receipt is issued). */
  readonly escrow?: ReceiptEscrow;
}

/** What became of a held charge: still held, released to be billed, or returned (never billed). */
export interface ReceiptEscrow {
  readonly state: 'held' | 'released' | 'returned';
  /** When it was released or returned. */
  readonly at?: string;
  /** Why: a login the agent saw, the customer's confirmation, the window passing, or a complaint. */
  readonly how?: string;
}

/** A receipt body of either version: what `prev` hashes chain. */
export type AnyReceiptBody = ReceiptBody | ReceiptBodyV2;
/** A receipt of either version, as served. */
export type AnyReceipt = Receipt | ReceiptV2;

/** receiptId's buffer for the text it hashes (grown for a longer one). */
let idScratch = Buffer.allocUnsafe(256);

/** The receipt id of a deployment's period: stable, so a re-run finds the same receipt. */
export function receiptId(deployment: string, periodStartMs: number): string {
  const text = `${deployment}\n${periodStartMs}`;
  if (idScratch.length < 3 * text.length) idScratch = Buffer.allocUnsafe(3 * text.length);
  // The first 12 bytes of BLAKE2b-128 of the text's UTF-8, hashed from a kept buffer (bench/billing: a fresh array per step was ~0.1 s of a 100k close).
  return 'rcp_' + blake2bHex(idScratch, idScratch.write(text, 0, 'utf8'), 16).slice(0, 24);
}


/** The body of a receipt: everything but its signatures, tree head, proofs and countersignature. */
export function receiptBody<B extends AnyReceiptBody>(receipt: B | AnyReceipt): B {
  const { signatures: _s, treeHead: _t, index: _i, proof: _p, countersign: _c, escrow: _e, ...body } = receipt as unknown as Record<string, unknown>;
  return body as unknown as B;
}

/** The bytes of a receipt's body (canonical JSON): what v1 signatures cover and every version hashes. */
export function receiptSigningBytes(receipt: AnyReceipt | AnyReceiptBody): Uint8Array {
  return canonicalJsonBytes(receiptBody(receipt));
}

/** The hash that the next receipt's `prev` names (BLAKE2b-256 of the body's bytes), for either version. */
export function receiptHash(receipt: AnyReceipt | AnyReceiptBody): string {
  return toHex(blake2b(receiptSigningBytes(receipt), 32));
}

/** A v2 receipt's leaf in the period's tree: RFC 9162 HASH(0x00 || receipt hash). */
export function receiptLeafHash(receiptHashHex: string): Uint8Array {
  return blake2bMerkleHasher.leaf(fromHex('receipt hash', receiptHashHex, 32));
}

/** Signs a body with the gateway's key. */
export function signReceipt(body: ReceiptBody, gatewaySecretKey: Uint8Array): Receipt {
  return { ...body, signatures: { gateway: toBase64(sign(gatewaySecretKey, receiptSigningBytes(body))) } };
}

/** A countersignature by the farmer's key over the same bytes. */
export function countersignReceipt(receipt: Receipt | ReceiptBody, farmerSecretKey: Uint8Array): string {
  return toBase64(sign(farmerSecretKey, receiptSigningBytes(receipt)));
}

/** The outcome of verifying: ok, or the first reason it is not. */
export type VerifyResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Verifies one receipt offline: its shape, its arithmetic (the charge rule of charge.ts, and
 * farmer share + fee = amount), the gateway's signature (against `pinnedGateway` when
 * given), the farmer's countersignature and the agent's chain-head signature when present.
 */
export function verifyReceipt(value: unknown, pinnedGateway?: string, verifiedHeads?: Set<string>): VerifyResult {
  try {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('a receipt must be a JSON object');
    const v = (value as Record<string, unknown>).v;
    if (v === 1) return checkReceipt(value as Record<string, unknown>, pinnedGateway);
    if (v === 2) return checkReceiptV2(value as Record<string, unknown>, pinnedGateway, verifiedHeads);
    return fail(`unsupported receipt version ${JSON.stringify(v)}`);
  } catch (err) {
    return { ok: false, reason: errorMessage(err) };
  }
}

/**
 * Checks a v2 receipt body alone, as a farmer's agent does before countersigning a batch: its
 * version, shape, arithmetic and agent head. Null when it holds, else the reason.
 */
export function checkReceiptBodyV2(value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'a receipt must be a JSON object';
  const r = value as Record<string, unknown>;
  if (r.v !== 2) return `unsupported receipt version ${JSON.stringify(r.v)}`;
  if (r.purpose !== RECEIPT_V2_PURPOSE) return `purpose must be ${RECEIPT_V2_PURPOSE}`;
  try {
    return checkFields(r);
  } catch (err) {
    return errorMessage(err);
  }
}

function checkReceipt(r: Record<string, unknown>, pinnedGateway?: string): VerifyResult {
  if (r.purpose !== RECEIPT_PURPOSE) return fail(`purpose must be ${RECEIPT_PURPOSE}`);
  const reason = checkFields(r);
  if (reason) return fail(reason);
  const sigs = r.signatures as Record<string, unknown> | undefined;
  if (sigs === null || typeof sigs !== 'object') return fail('signatures must be an object');
  if (pinnedGateway !== undefined && r.gateway !== pinnedGateway) return fail(`signed by gateway ${String(r.gateway)}, not the expected ${pinnedGateway}`);
  const body = receiptSigningBytes(r as unknown as Receipt);
  if (!signatureHolds(sigs.gateway, body, r.gateway as string)) return fail('the gateway signature does not verify');
  if (sigs.farmer !== undefined && !signatureHolds(sigs.farmer, body, r.farmer as string)) return fail('the farmer countersignature does not verify');
  return { ok: true };
}

/**
 * A v2 receipt: its body as for v1, the tree head's gateway signature, the receipt's leaf in
 * the head's tree through its inclusion proof, and the farmer's batch countersignature with
 * the receipt's proof in the farmer's sub-tree when present. `verifiedHeads` (tree-head
 * hashes already checked) saves checking one head's signature again for each of its receipts.
 */
function checkReceiptV2(r: Record<string, unknown>, pinnedGateway?: string, verifiedHeads?: Set<string>): VerifyResult {
  if (r.purpose !== RECEIPT_V2_PURPOSE) return fail(`purpose must be ${RECEIPT_V2_PURPOSE}`);
  const reason = checkFields(r);
  if (reason) return fail(reason);
  if (pinnedGateway !== undefined && r.gateway !== pinnedGateway) return fail(`signed by gateway ${String(r.gateway)}, not the expected ${pinnedGateway}`);
  const head = r.treeHead as SignedTreeHead;
  const headHash = head !== null && typeof head === 'object' ? treeHeadHash(head) : '';
  // The cache key includes the signature: the hash covers only the signed body.
  const headKey = `${headHash}:${String((head as Partial<SignedTreeHead> | null)?.signature)}`;
  if (!verifiedHeads?.has(headKey)) {
    const headReason = checkTreeHead(head, r.gateway as string);
    if (headReason) return fail(headReason);
    verifiedHeads?.add(headKey);
  }
  if (Date.parse(r.periodStart as string) < Date.parse(head.periodStart) || Date.parse(r.periodEnd as string) > Date.parse(head.periodEnd)) return fail("the receipt's period is not within its tree head's period");
  const leaf = receiptLeafHash(receiptHash(r as unknown as ReceiptV2));
  const proof = proofBytes(r.proof);
  if (proof === null) return fail('proof must be an array of 64-hex-digit hashes');
  if (!Number.isSafeInteger(r.index) || !verifyInclusion(leaf, r.index as number, head.size, proof, fromHex('treeHead.root', head.root, 32))) {
    return fail("the inclusion proof does not lead from the receipt to its tree head's root");
  }
  if (r.countersign !== undefined) {
    const why = checkCountersign(r.countersign, leaf, r.farmer as string, headHash, head.size);
    if (why) return fail(why);
  }
  return { ok: true };
}

function checkCountersign(value: unknown, leaf: Uint8Array, farmer: string, headHash: string, headSize: number): string | null {
  if (value === null || typeof value !== 'object') return 'countersign must be an object';
  const c = value as Record<string, unknown>;
  const root = hashBytes(c.root);
  const proof = proofBytes(c.proof);
  if (root === null || proof === null || !Number.isSafeInteger(c.size) || (c.size as number) < 1 || (c.size as number) > headSize || !Number.isSafeInteger(c.index)) {
    return 'countersign must have size, root, index and proof';
  }
  if (!verifyInclusion(leaf, c.index as number, c.size as number, proof, root)) return "the receipt is not in the farmer's countersigned batch (its proof does not lead to the batch root)";
  const statement = { farmer, treeHead: headHash, size: c.size as number, root: c.root as string };
  return signatureHolds(c.signature, farmerBatchBytes(statement), farmer) ? null : "the farmer's batch countersignature does not verify";
}

function proofBytes(value: unknown): Uint8Array[] | null {
  if (!Array.isArray(value) || value.length > 64) return null;
  const out: Uint8Array[] = [];
  for (const p of value) {
    const b = hashBytes(p);
    if (b === null) return null;
    out.push(b);
  }
  return out;
}

/** The checks both versions share: fields, times, arithmetic and the agent head; the reason, or null. */
function checkFields(r: Record<string, unknown>): string | null {
  const fail = (reason: string): string => reason;
  for (const f of ['id', 'deployment', 'customer', 'farmer', 'node', 'offer', 'unit', 'gateway'] as const) {
    if (typeof r[f] !== 'string' || r[f] === '') return fail(`${f} must be a non-empty string`);
  }
  for (const f of ['periodStart', 'periodEnd', 'issuedAt'] as const) {
    if (typeof r[f] !== 'string' || !ISO.test(r[f]) || Number.isNaN(Date.parse(r[f]))) return fail(`${f} must be an ISO-8601 UTC time`);
  }
  const startMs = Date.parse(r.periodStart as string);
  const endMs = Date.parse(r.periodEnd as string);
  if (endMs <= startMs) return fail('periodEnd must be after periodStart');
  if (typeof r.upSeconds !== 'number' || !Number.isSafeInteger(r.upSeconds) || r.upSeconds < 0) return fail('upSeconds must be a non-negative integer');
  if (r.upSeconds * 1000 > endMs - startMs) return fail(`upSeconds ${r.upSeconds} is more than the period's ${(endMs - startMs) / 1000} s`);
  if (r.prev !== null && (typeof r.prev !== 'string' || !/^[0-9a-f]{64}$/.test(r.prev))) return fail('prev must be null or 64 hex digits');
  if (typeof r.final !== 'boolean') return fail('final must be true or false');
  let price: bigint, amount: bigint, share: bigint, fee: bigint;
  try {
    price = parseAmount('pricePerHour', r.pricePerHour);
    amount = parseAmount('amount', r.amount);
    share = parseAmount('farmerShare', r.farmerShare);
    fee = parseAmount('fee', r.fee);
  } catch (err) {
    if (err instanceof AmountError) return err.message;
    throw err;
  }
  const expected = computeCharge(price, r.upSeconds, 0).amountMicros;
  if (amount !== expected) return fail(`amount ${formatAmount(amount)} is not pricePerHour x upSeconds / 3600 rounded down (${formatAmount(expected)})`);
  if (share + fee !== amount) return fail(`farmerShare ${formatAmount(share)} + fee ${formatAmount(fee)} is not amount ${formatAmount(amount)}`);
  if (r.agentHead !== null) return checkAgentHead(r.agentHead, r.farmer as string, r.gateway as string, startMs, endMs);
  return null;
}

function checkAgentHead(value: unknown, farmer: string, gateway: string, periodStartMs: number, periodEndMs: number): string | null {
  if (value === null || typeof value !== 'object') return 'agentHead must be an object or null';
  const h = value as Record<string, unknown>;
  if (typeof h.seq !== 'number' || typeof h.head !== 'string' || typeof h.periodStartMs !== 'number' || typeof h.periodEndMs !== 'number') {
    return 'agentHead must have periodStartMs, periodEndMs, seq and head';
  }
  if (h.periodStartMs > periodStartMs || h.periodEndMs < periodEndMs) return "agentHead covers another period than the receipt's";
  let sig: Uint8Array;
  try {
    sig = fromBase64('agentHead.signature', h.signature, 64);
  } catch {
    return 'agentHead.signature is not a 64-byte base64 signature';
  }
  const statement = { agent: farmer, gateway, periodStartMs: h.periodStartMs, periodEndMs: h.periodEndMs, seq: h.seq, head: h.head };
  return verifyJsonStatement(sig, CHAIN_HEAD_PURPOSE, statement, decodeAgentPubKey(farmer)) ? null : "the agent's chain-head signature does not verify";
}

/**
 * Verifies a chain of receipts (oldest first, possibly of several deployments): each receipt,
 * then for each deployment that its first receipt's `prev` is null (unless `allowPartial`),
 * each later `prev` names the hash of the one before, and periods do not overlap.
 */
export function verifyReceiptChain(values: readonly unknown[], options: { pinnedGateway?: string; allowPartial?: boolean } = {}): VerifyResult {
  const last = new Map<string, AnyReceipt>();
  const verifiedHeads = new Set<string>();
  for (let i = 0; i < values.length; i++) {
    const one = verifyReceipt(values[i], options.pinnedGateway, verifiedHeads);
    if (!one.ok) return fail(`receipt ${i}: ${one.reason}`);
    const r = values[i] as AnyReceipt;
    const before = last.get(r.deployment);
    if (before === undefined) {
      if (r.prev !== null && !options.allowPartial) return fail(`receipt ${i}: the first receipt of ${r.deployment} names a previous one (prev is not null); pass the whole chain`);
    } else {
      if (r.prev !== receiptHash(before)) return fail(`receipt ${i}: prev does not match the hash of the previous receipt of ${r.deployment}`);
      if (Date.parse(r.periodStart) < Date.parse(before.periodEnd)) return fail(`receipt ${i}: its period overlaps the previous receipt of ${r.deployment}`);
    }
    last.set(r.deployment, r);
  }
  return { ok: true };
}

function fail(reason: string): VerifyResult {
  return { ok: false, reason };
}

/** The bytes of an agent's chain-head statement (what its `signature` covers). */
export function chainHeadBytes(statement: { agent: string; gateway: string; periodStartMs: number; periodEndMs: number; seq: number; head: string }): Uint8Array {
  return jsonStatementBytes(CHAIN_HEAD_PURPOSE, { ...statement });
}
