// Usage receipts: signed with a fresh gateway key, then verified offline — one receipt, chains, and each way one can be wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sign, toBase64 } from '../../src/identity/index.js';
import { computeCharge } from '../../src/protocol/charge.js';
import { formatAmount } from '../../src/protocol/money.js';
import {
  countersignReceipt,
  RECEIPT_PURPOSE,
  receiptHash,
  receiptId,
  receiptSigningBytes,
  signReceipt,
  verifyReceipt,
  verifyReceiptChain,
  type Receipt,
  type ReceiptAgentHead,
  type ReceiptBody,
  type VerifyResult,
} from '../../src/protocol/receipt.js';
import { actors, agentHead, HOUR, T0, v1Body } from '../helpers/receipts.js';

const { gateway, farmer, stranger } = actors;

/** A chain of `n` hourly receipts of one deployment, each naming the one before. */
function chain(n: number, deployment = 'dep_0011223344556677'): Receipt[] {
  const out: Receipt[] = [];
  for (let i = 0; i < n; i++) {
    const prev = i === 0 ? null : receiptHash(out[i - 1] as Receipt);
    out.push(signReceipt(v1Body({ deployment, startMs: T0 + i * HOUR, prev, upSeconds: 3600 - i }), gateway.secretKey));
  }
  return out;
}

/** Re-signs a changed body with the gateway key, so only the change is wrong. */
const resigned = (b: ReceiptBody): Receipt => signReceipt(b, gateway.secretKey);

function assertFails(result: VerifyResult, reason: RegExp): void {
  assert.equal(result.ok, false, 'it must not verify');
  if (!result.ok) assert.match(result.reason, reason);
}

test('a signed receipt verifies, also after a JSON round trip and against its pinned gateway', () => {
  const r = signReceipt(v1Body(), gateway.secretKey);
  assert.deepEqual(verifyReceipt(r), { ok: true });
  assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(r))), { ok: true });
  assert.deepEqual(verifyReceipt(r, gateway.agent), { ok: true });
  assert.deepEqual(verifyReceipt(signReceipt(v1Body({ withHead: false }), gateway.secretKey)), { ok: true }, 'without an agent head');
  assert.deepEqual(verifyReceipt(signReceipt(v1Body({ upSeconds: 0 }), gateway.secretKey)), { ok: true }, 'zero up-time, zero charge');
});

test('a receipt countersigned by its farmer verifies', () => {
  const r = signReceipt(v1Body(), gateway.secretKey);
  const countersigned: Receipt = { ...r, signatures: { ...r.signatures, farmer: countersignReceipt(r, farmer.secretKey) } };
  assert.deepEqual(verifyReceipt(countersigned, gateway.agent), { ok: true });
});

test('a changed amount fails: alone on the arithmetic, with a consistent split on the signature', () => {
  const r = signReceipt(v1Body({ upSeconds: 3000 }), gateway.secretKey);
  assertFails(verifyReceipt({ ...r, amount: '0.050000' }), /^amount 0\.050000 is not pricePerHour x upSeconds \/ 3600 rounded down \(0\.041666\)$/);
  // A forger who changes up-seconds, amount, share and fee together still fails the signature.
  const c = computeCharge(50_000n, 3600, 9000);
  const forged = { ...r, upSeconds: 3600, amount: formatAmount(c.amountMicros), farmerShare: formatAmount(c.farmerShareMicros), fee: formatAmount(c.feeMicros) };
  assertFails(verifyReceipt(forged), /^the gateway signature does not verify$/);
});

test('each inconsistent receipt, even signed by the gateway, fails with a reason', async (t) => {
  const good = v1Body({ upSeconds: 1800 });
  const cases: { name: string; receipt: unknown; reason: RegExp }[] = [
    { name: 'farmerShare + fee is not amount', receipt: resigned({ ...good, fee: '0.002501' }), reason: /^farmerShare 0\.022500 \+ fee 0\.002501 is not amount 0\.025000$/ },
    { name: 'amount is not price x upSeconds / 3600', receipt: resigned({ ...good, amount: '0.025001', fee: '0.002501' }), reason: /is not pricePerHour x upSeconds \/ 3600 rounded down \(0\.025000\)/ },
    { name: 'amount rounded up instead of down', receipt: resigned(bodyRoundedUp()), reason: /rounded down \(0\.000013\)/ },
    { name: 'upSeconds longer than the period', receipt: resigned(v1Body({ upSeconds: 3601 })), reason: /^upSeconds 3601 is more than the period's 3600 s$/ },
    { name: 'upSeconds fractional', receipt: resigned({ ...good, upSeconds: 1800.5 }), reason: /^upSeconds must be a non-negative integer$/ },
    { name: 'upSeconds negative', receipt: resigned({ ...good, upSeconds: -1 }), reason: /^upSeconds must be a non-negative integer$/ },
    { name: 'a period that ends before it starts', receipt: resigned({ ...good, periodEnd: good.periodStart }), reason: /^periodEnd must be after periodStart$/ },
    { name: 'an amount written as a number', receipt: resigned({ ...good, amount: 0.025 as unknown as string }), reason: /^amount: must be a decimal string/ },
    { name: 'a negative fee', receipt: resigned({ ...good, fee: '-0.002500' }), reason: /^fee: / },
    { name: 'another version', receipt: resigned({ ...good, v: 3 as unknown as 1 }), reason: /^unsupported receipt version 3$/ },
    { name: 'another purpose', receipt: resigned({ ...good, purpose: 'hypha/other/v1' as typeof RECEIPT_PURPOSE }), reason: /^purpose must be hypha\/receipt\/v1$/ },
    { name: 'an empty customer', receipt: resigned({ ...good, customer: '' }), reason: /^customer must be a non-empty string$/ },
    { name: 'a time that is not ISO-8601 UTC', receipt: resigned({ ...good, issuedAt: '2026-01-01 01:01:00' }), reason: /^issuedAt must be an ISO-8601 UTC time$/ },
    { name: 'prev that is not a hash', receipt: resigned({ ...good, prev: 'xyz' }), reason: /^prev must be null or 64 hex digits$/ },
    { name: 'not an object', receipt: [good], reason: /^a receipt must be a JSON object$/ },
    { name: 'no signatures', receipt: good, reason: /^signatures must be an object$/ },
  ];
  for (const c of cases) await t.test(c.name, () => assertFails(verifyReceipt(c.receipt), c.reason));
});

/** One second at 0.05/h is 13.88 micros; this body claims 14 (rounded up). */
function bodyRoundedUp(): ReceiptBody {
  const b = v1Body({ upSeconds: 1 });
  return { ...b, amount: '0.000014', farmerShare: '0.000012', fee: '0.000002' };
}

test('a bad gateway signature fails', async (t) => {
  const r = signReceipt(v1Body(), gateway.secretKey);
  const sigBytes = Buffer.from(r.signatures.gateway, 'base64');
  sigBytes[10] = (sigBytes[10] as number) ^ 1;
  const cases: { name: string; receipt: Receipt }[] = [
    { name: 'signed by another key', receipt: signReceipt(v1Body(), stranger.secretKey) },
    { name: 'one bit flipped', receipt: { ...r, signatures: { gateway: sigBytes.toString('base64') } } },
    { name: 'not base64 of 64 bytes', receipt: { ...r, signatures: { gateway: 'AAAA' } } },
    { name: 'a signature over other bytes', receipt: { ...r, signatures: { gateway: toBase64(sign(gateway.secretKey, receiptSigningBytes(v1Body({ upSeconds: 1 })))) } } },
  ];
  for (const c of cases) await t.test(c.name, () => assertFails(verifyReceipt(c.receipt), /^the gateway signature does not verify$/));
});

test('a receipt from another gateway fails against the pinned one, even though it verifies on its own', () => {
  const other = { ...v1Body(), gateway: stranger.agent };
  const r = signReceipt(other, stranger.secretKey);
  assert.deepEqual(verifyReceipt(r), { ok: false, reason: "the agent's chain-head signature does not verify" }, 'the head names our gateway, not this one');
  const noHead = signReceipt({ ...other, agentHead: null }, stranger.secretKey);
  assert.deepEqual(verifyReceipt(noHead), { ok: true });
  assertFails(verifyReceipt(noHead, gateway.agent), new RegExp(`^signed by gateway ${stranger.agent}, not the expected ${gateway.agent}$`));
});

test('a bad farmer countersignature fails', async (t) => {
  const r = signReceipt(v1Body(), gateway.secretKey);
  const cases: { name: string; farmerSig: unknown }[] = [
    { name: 'countersigned by another key', farmerSig: countersignReceipt(r, stranger.secretKey) },
    { name: 'countersigned by the gateway', farmerSig: countersignReceipt(r, gateway.secretKey) },
    { name: 'countersigned over another receipt', farmerSig: countersignReceipt(v1Body({ upSeconds: 1 }), farmer.secretKey) },
    { name: 'garbage', farmerSig: 'not base64!' },
    { name: 'a number', farmerSig: 7 },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      assertFails(verifyReceipt({ ...r, signatures: { ...r.signatures, farmer: c.farmerSig } }), /^the farmer countersignature does not verify$/);
    });
  }
});

test('a bad agent head fails', async (t) => {
  const b = v1Body();
  const head = b.agentHead as ReceiptAgentHead;
  const cases: { name: string; agentHead: unknown; reason: RegExp }[] = [
    { name: 'signed by another key', agentHead: agentHead(T0, T0 + HOUR, { signer: stranger }), reason: /^the agent's chain-head signature does not verify$/ },
    { name: 'seq changed after signing', agentHead: { ...head, seq: head.seq + 1 }, reason: /^the agent's chain-head signature does not verify$/ },
    { name: 'head changed after signing', agentHead: { ...head, head: 'cd'.repeat(32) }, reason: /^the agent's chain-head signature does not verify$/ },
    { name: 'a signature that is not 64 bytes', agentHead: { ...head, signature: 'AAAA' }, reason: /^agentHead\.signature is not a 64-byte base64 signature$/ },
    { name: 'fields missing', agentHead: { signature: head.signature }, reason: /^agentHead must have periodStartMs, periodEndMs, seq and head$/ },
    { name: 'not an object', agentHead: 'head', reason: /^agentHead must be an object or null$/ },
  ];
  for (const c of cases) {
    // Re-signed by the gateway: only the head is wrong.
    await t.test(c.name, () => assertFails(verifyReceipt(resigned({ ...b, agentHead: c.agentHead as ReceiptAgentHead })), c.reason));
  }
});

test('a chain of receipts verifies, also interleaved with another deployment', () => {
  const a = chain(4, 'dep_aaaa');
  const b = chain(3, 'dep_bbbb');
  assert.deepEqual(verifyReceiptChain(a), { ok: true });
  assert.deepEqual(verifyReceiptChain(a, { pinnedGateway: gateway.agent }), { ok: true });
  assert.deepEqual(verifyReceiptChain([a[0], b[0], a[1], b[1], b[2], a[2], a[3]]), { ok: true });
  assert.deepEqual(verifyReceiptChain([]), { ok: true });
});

test('a broken chain fails with the receipt and the reason', async (t) => {
  const [r0, r1, r2] = chain(3) as [Receipt, Receipt, Receipt];
  const otherPrev = resigned({ ...r1, prev: 'ef'.repeat(32) });
  const overlapping = resigned(v1Body({ startMs: T0 + HOUR / 2, prev: receiptHash(r0), upSeconds: 1800 }));
  const cases: { name: string; chain: unknown[]; options?: { allowPartial?: boolean; pinnedGateway?: string }; reason: RegExp }[] = [
    { name: 'a prev that names another receipt', chain: [r0, otherPrev], reason: /^receipt 1: prev does not match the hash of the previous receipt of dep_0011223344556677$/ },
    { name: 'a receipt left out', chain: [r0, r2], reason: /^receipt 1: prev does not match/ },
    { name: 'receipts reordered', chain: [r0, r2, r1], reason: /^receipt 1: prev does not match/ },
    { name: 'receipts reordered, even with allowPartial', chain: [r1, r0, r2], options: { allowPartial: true }, reason: /^receipt 1: prev does not match/ },
    { name: 'a receipt repeated', chain: [r0, r1, r1], reason: /^receipt 2: prev does not match/ },
    { name: 'overlapping periods', chain: [r0, overlapping], reason: /^receipt 1: its period overlaps the previous receipt of dep_0011223344556677$/ },
    { name: 'a first receipt whose prev is not null', chain: [r1, r2], reason: /^receipt 0: the first receipt of dep_0011223344556677 names a previous one/ },
    { name: 'one bad receipt in the chain', chain: [r0, { ...r1, fee: '0.000000' }], reason: /^receipt 1: farmerShare/ },
    { name: 'a receipt of another gateway in a pinned chain', chain: [r0, r1], options: { pinnedGateway: stranger.agent }, reason: /^receipt 0: signed by gateway/ },
  ];
  for (const c of cases) await t.test(c.name, () => assertFails(verifyReceiptChain(c.chain, c.options), c.reason));
});

test('allowPartial accepts a chain that starts in the middle, and still checks its links', () => {
  const [, r1, r2] = chain(3) as [Receipt, Receipt, Receipt];
  assert.deepEqual(verifyReceiptChain([r1, r2], { allowPartial: true }), { ok: true });
  assert.deepEqual(verifyReceiptChain([r2], { allowPartial: true }), { ok: true });
  assert.equal(verifyReceiptChain([r2]).ok, false);
});

test('receipt ids are stable per (deployment, period start) and differ otherwise', () => {
  const id = receiptId('dep_0011223344556677', T0);
  assert.match(id, /^rcp_[0-9a-f]{24}$/);
  assert.equal(receiptId('dep_0011223344556677', T0), id);
  assert.notEqual(receiptId('dep_0011223344556677', T0 + HOUR), id);
  assert.notEqual(receiptId('dep_0011223344556678', T0), id);
  // The separator keeps ("a1", 23) and ("a", 123) apart.
  assert.notEqual(receiptId('a1', 23), receiptId('a', 123));
});

test('the receipt hash covers the body, not the signatures', () => {
  const b = v1Body();
  const r = signReceipt(b, gateway.secretKey);
  assert.match(receiptHash(r), /^[0-9a-f]{64}$/);
  assert.equal(receiptHash(r), receiptHash(b));
  assert.equal(receiptHash({ ...r, signatures: { ...r.signatures, farmer: countersignReceipt(r, farmer.secretKey) } }), receiptHash(r));
  assert.notEqual(receiptHash(v1Body({ upSeconds: 1 })), receiptHash(b));
});
