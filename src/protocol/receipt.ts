// Usage receipts: their shape, the bytes that are signed, their hash chain, and offline verification.
import { errorMessage } from '../identity/error-message.js';
import {
  blake2b,
  canonicalJsonBytes,
  decodeAgentPubKey,
  fromBase64,
  jsonStatementBytes,
  sign,
  toBase64,
  toHex,
  utf8,
  verify,
  verifyJsonStatement,
} from '../identity/index.js';
import { computeCharge } from './charge.js';
import { CHAIN_HEAD_PURPOSE } from './heartbeat.js';
import { AmountError, formatAmount, parseAmount } from './money.js';

/** The purpose tag receipts are signed under. */
export const RECEIPT_PURPOSE = 'hypha/receipt/v1';

/** The agent's signed chain head for the period, as carried in a receipt. */
export interface ReceiptAgentHead {
  readonly periodStartMs: number;
  readonly periodEndMs: number;
  readonly seq: number;
  readonly head: string;
  readonly signature: string;
}

/** A usage receipt without signatures: exactly what is signed (as canonical JSON). */
export interface ReceiptBody {
  readonly v: 1;
  readonly purpose: typeof RECEIPT_PURPOSE;
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
}

/** A receipt with its signatures (base64 ed25519 over the canonical JSON of the body). */
export interface Receipt extends ReceiptBody {
  readonly signatures: { readonly gateway: string; readonly farmer?: string };
}

/** The receipt id of a deployment's period: stable, so a re-run finds the same receipt. */
export function receiptId(deployment: string, periodStartMs: number): string {
  return 'rcp_' + toHex(blake2b(utf8(`${deployment}\n${periodStartMs}`), 16).subarray(0, 12));
}

/** The body of a receipt: everything but `signatures`. */
export function receiptBody(receipt: Receipt | ReceiptBody): ReceiptBody {
  const { signatures: _signatures, ...body } = receipt as Receipt;
  return body;
}

/** The bytes every signature of a receipt covers: canonical JSON of the body. */
export function receiptSigningBytes(receipt: Receipt | ReceiptBody): Uint8Array {
  return canonicalJsonBytes(receiptBody(receipt));
}

/** The hash that the next receipt's `prev` names. */
export function receiptHash(receipt: Receipt | ReceiptBody): string {
  return toHex(blake2b(receiptSigningBytes(receipt), 32));
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
export function verifyReceipt(value: unknown, pinnedGateway?: string): VerifyResult {
  try {
    return checkReceipt(value, pinnedGateway);
  } catch (err) {
    return { ok: false, reason: errorMessage(err) };
  }
}

function checkReceipt(value: unknown, pinnedGateway?: string): VerifyResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('a receipt must be a JSON object');
  const r = value as Record<string, unknown>;
  if (r.v !== 1) return fail(`unsupported receipt version ${JSON.stringify(r.v)}`);
  if (r.purpose !== RECEIPT_PURPOSE) return fail(`purpose must be ${RECEIPT_PURPOSE}`);
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
    if (err instanceof AmountError) return fail(err.message);
    throw err;
  }
  const expected = computeCharge(price, r.upSeconds, 0).amountMicros;
  if (amount !== expected) return fail(`amount ${formatAmount(amount)} is not pricePerHour x upSeconds / 3600 rounded down (${formatAmount(expected)})`);
  if (share + fee !== amount) return fail(`farmerShare ${formatAmount(share)} + fee ${formatAmount(fee)} is not amount ${formatAmount(amount)}`);
  const sigs = r.signatures as Record<string, unknown> | undefined;
  if (sigs === null || typeof sigs !== 'object') return fail('signatures must be an object');
  if (pinnedGateway !== undefined && r.gateway !== pinnedGateway) return fail(`signed by gateway ${String(r.gateway)}, not the expected ${pinnedGateway}`);
  const body = receiptSigningBytes(r as unknown as Receipt);
  if (!checkSig(sigs.gateway, body, r.gateway as string)) return fail('the gateway signature does not verify');
  if (sigs.farmer !== undefined && !checkSig(sigs.farmer, body, r.farmer as string)) return fail('the farmer countersignature does not verify');
  if (r.agentHead !== null) {
    const reason = checkAgentHead(r.agentHead, r.farmer as string, r.gateway as string, startMs, endMs);
    if (reason) return fail(reason);
  }
  return { ok: true };
}

function checkSig(sig: unknown, bytes: Uint8Array, agent: string): boolean {
  if (typeof sig !== 'string') return false;
  let sigBytes: Uint8Array;
  try {
    sigBytes = fromBase64('signature', sig, 64);
  } catch {
    return false;
  }
  return verify(sigBytes, bytes, decodeAgentPubKey(agent));
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
  const last = new Map<string, Receipt>();
  for (let i = 0; i < values.length; i++) {
    const one = verifyReceipt(values[i], options.pinnedGateway);
    if (!one.ok) return fail(`receipt ${i}: ${one.reason}`);
    const r = values[i] as Receipt;
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
