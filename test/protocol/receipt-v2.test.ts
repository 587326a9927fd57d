// v2 receipts (leaves of a period's signed Merkle tree): every receipt of every period verifies, any one-bit change fails, and each way one can be wrong is named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson, sign, signJsonStatement, toBase64 } from '../../src/identity/index.js';
import { FARMER_BATCH_PURPOSE, signFarmerBatch } from '../../src/protocol/farmer-batch.js';
import { checkReceiptBodyV2, receiptHash, verifyReceipt, verifyReceiptChain, RECEIPT_PURPOSE, type ReceiptV2, type VerifyResult } from '../../src/protocol/receipt.js';
import { checkTreeHead, signTreeHead, treeHeadBody, treeHeadHash } from '../../src/protocol/tree-head.js';
import { actors, closeOf, headOver, HOUR, T0, v1Receipt, v2Body } from '../helpers/receipts.js';

const { gateway, farmer, stranger } = actors;

function assertFails(result: VerifyResult, reason: RegExp): void {
  assert.equal(result.ok, false, 'it must not verify');
  if (!result.ok) assert.match(result.reason, reason);
}

/** Three deployments of two farmers in one period, the farmer countersigning its own. */
function onePeriod(): { head: ReturnType<typeof closeOf>['head']; receipts: ReceiptV2[] } {
  const bodies = [v2Body({ deployment: 'dep_a' }), v2Body({ deployment: 'dep_b', farmer: stranger }), v2Body({ deployment: 'dep_c', upSeconds: 1200 })];
  return closeOf(bodies, T0, null, [farmer]);
}

test('every receipt of a period verifies: tree head, inclusion proof, batch countersignature; also after a JSON round trip and pinned', () => {
  const { receipts } = onePeriod();
  for (const r of receipts) {
    assert.deepEqual(verifyReceipt(r), { ok: true });
    assert.deepEqual(verifyReceipt(JSON.parse(JSON.stringify(r)), gateway.agent), { ok: true });
  }
  assert.ok(receipts[0]?.countersign && !receipts[1]?.countersign, 'only the farmer who countersigned has a countersignature');
});

test('property: any receipt of any period (any tree size, any farmers countersigning) verifies', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.integer({ min: 0, max: 3600 }), { minLength: 1, maxLength: 40 }), fc.boolean(), fc.nat(), (size, ups, countersign, pick) => {
      const startMs = T0 + (pick % 5) * HOUR;
      const bodies = Array.from({ length: size }, (_, i) => v2Body({ deployment: `dep_${i}`, startMs, upSeconds: ups[i % ups.length] as number, farmer: i % 3 === 0 ? stranger : farmer, withHead: false }));
      const { receipts } = closeOf(bodies, startMs, null, countersign ? [farmer, stranger] : []);
      const r = receipts[pick % size] as ReceiptV2;
      assert.deepEqual(verifyReceipt(r, gateway.agent), { ok: true });
    }),
    { numRuns: 150 },
  );
});

test('property: any one-bit change to a served receipt (its body, head, proof or countersignature) fails', () => {
  const { receipts } = onePeriod();
  const texts = receipts.map((r) => canonicalJson(r));
  fc.assert(
    fc.property(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (which, at, bit) => {
      const text = texts[which % texts.length] as string;
      const bytes = Buffer.from(text, 'utf8');
      const i = at % bytes.length;
      bytes[i] = (bytes[i] as number) ^ (1 << bit);
      let changed: unknown;
      try {
        changed = JSON.parse(bytes.toString('utf8'));
      } catch {
        return; // no longer JSON: nothing to verify
      }
      assert.equal(verifyReceipt(changed).ok, false, `byte ${i} bit ${bit} flipped: ${bytes.toString('utf8').slice(Math.max(0, i - 20), i + 20)}`);
    }),
    { numRuns: 2000 },
  );
});

test('each inconsistent v2 receipt fails with a reason', async (t) => {
  const { receipts } = onePeriod();
  const [a, b, c] = receipts as [ReceiptV2, ReceiptV2, ReceiptV2];
  const { receipts: later } = closeOf([v2Body({ deployment: 'dep_a', startMs: T0 + HOUR })], T0 + HOUR, null);
  const byStranger = { ...a.treeHead, ...signTreeHead(treeHeadBody(a.treeHead), (m) => sign(stranger.secretKey, m)) };
  const otherFarmerBatch = signFarmerBatch({ farmer: farmer.agent, treeHead: treeHeadHash(a.treeHead), size: 1, root: 'cd'.repeat(32) }, farmer.secretKey);
  const cases: { name: string; receipt: unknown; reason: RegExp }[] = [
    { name: 'the body changed after issue', receipt: { ...a, upSeconds: 3000, amount: '0.041666', farmerShare: '0.037499', fee: '0.004167' }, reason: /^the inclusion proof does not lead from the receipt to its tree head's root$/ },
    { name: 'another leaf index', receipt: { ...a, index: 1 }, reason: /^the inclusion proof does not lead/ },
    { name: "another receipt's proof", receipt: { ...a, proof: c.proof, index: c.index }, reason: /^the inclusion proof does not lead/ },
    { name: 'a proof cut short', receipt: { ...a, proof: a.proof.slice(1) }, reason: /^the inclusion proof does not lead/ },
    { name: 'a proof of upper-case hex', receipt: { ...a, proof: a.proof.map((p) => p.toUpperCase()) }, reason: /^proof must be an array of 64-hex-digit hashes$/ },
    { name: 'the tree head of another period', receipt: { ...a, treeHead: later[0]?.treeHead }, reason: /^the receipt's period is not within its tree head's period$/ },
    { name: 'a tree head signed by another key', receipt: { ...b, treeHead: byStranger }, reason: /^the gateway's tree-head signature does not verify$/ },
    { name: 'a tree head with another size', receipt: { ...b, treeHead: { ...b.treeHead, size: 4 } }, reason: /^the gateway's tree-head signature does not verify$/ },
    { name: 'a tree head of another gateway', receipt: { ...b, treeHead: { ...b.treeHead, gateway: stranger.agent } }, reason: /^tree head signed by gateway/ },
    { name: 'no tree head', receipt: { ...b, treeHead: undefined }, reason: /^treeHead must be an object$/ },
    { name: 'a countersignature by another key', receipt: { ...a, countersign: { ...a.countersign, signature: signFarmerBatch({ farmer: farmer.agent, treeHead: treeHeadHash(a.treeHead), size: 2, root: a.countersign?.root as string }, stranger.secretKey) } }, reason: /^the farmer's batch countersignature does not verify$/ },
    { name: 'a countersignature over another root', receipt: { ...a, countersign: { ...a.countersign, signature: otherFarmerBatch } }, reason: /^the farmer's batch countersignature does not verify$/ },
    { name: "a proof into the farmer's batch of another receipt", receipt: { ...a, countersign: { ...a.countersign, index: 1 } }, reason: /^the receipt is not in the farmer's countersigned batch/ },
    { name: "another farmer's countersignature", receipt: { ...b, countersign: a.countersign }, reason: /^the receipt is not in the farmer's countersigned batch|does not verify/ },
    { name: 'a countersignature without a root', receipt: { ...a, countersign: { ...a.countersign, root: undefined } }, reason: /^countersign must have size, root, index and proof$/ },
    { name: 'the v2 tag with the v1 purpose', receipt: { ...a, purpose: RECEIPT_PURPOSE }, reason: /^purpose must be hypha\/receipt\/v2$/ },
    { name: 'bad arithmetic', receipt: { ...a, fee: '0.000000' }, reason: /^farmerShare 0\.044249 \+ fee 0\.000000 is not amount/ },
  ];
  for (const x of cases) await t.test(x.name, () => assertFails(verifyReceipt(x.receipt), x.reason));
  assertFails(verifyReceipt(a, stranger.agent), /^signed by gateway .*, not the expected/);
});

test('a chain across periods verifies, and a chain from v1 receipts into v2 ones too', () => {
  const p0 = closeOf([v2Body({ deployment: 'dep_a' })], T0, null);
  const p1 = closeOf([v2Body({ deployment: 'dep_a', startMs: T0 + HOUR, prev: receiptHash(p0.receipts[0] as ReceiptV2) })], T0 + HOUR, treeHeadHash(p0.head));
  assert.deepEqual(verifyReceiptChain([p0.receipts[0], p1.receipts[0]], { pinnedGateway: gateway.agent }), { ok: true });
  assertFails(verifyReceiptChain([p1.receipts[0], p0.receipts[0]]), /^receipt 0: the first receipt of dep_a names a previous one/);
  // A deployment billed in v1 before the upgrade: its first v2 receipt names the last v1 receipt's body hash.
  const v1 = v1Receipt({ deployment: 'dep_m', startMs: T0 - HOUR });
  const p2 = closeOf([v2Body({ deployment: 'dep_m', prev: receiptHash(v1) })], T0, null);
  assert.deepEqual(verifyReceiptChain([v1, p2.receipts[0]]), { ok: true });
});

test('tree heads: the shape is checked, the head hash covers every field but the signature', () => {
  const head = headOver([v2Body()], T0, null);
  assert.equal(checkTreeHead(head, gateway.agent), null);
  assert.equal(checkTreeHead({ ...head, root: 'AB'.repeat(32) }), 'treeHead.root must be 64 hex digits');
  assert.equal(checkTreeHead({ ...head, size: 0 }), 'treeHead.size must be a positive integer');
  assert.equal(checkTreeHead({ ...head, prev: 'x' }), 'treeHead.prev must be null or 64 hex digits');
  assert.equal(checkTreeHead({ ...head, periodEnd: head.periodStart }), 'treeHead.periodEnd must be after treeHead.periodStart');
  assert.equal(treeHeadHash(head), treeHeadHash({ ...head, signature: 'x' }));
  assert.notEqual(treeHeadHash(head), treeHeadHash({ ...head, prev: 'ab'.repeat(32) }));
});

test('a batch statement is domain-separated: a chain-head signature over the same fields does not verify as one', () => {
  const { receipts } = onePeriod();
  const a = receipts[0] as ReceiptV2;
  const cs = a.countersign as NonNullable<ReceiptV2['countersign']>;
  const statement = { farmer: farmer.agent, treeHead: treeHeadHash(a.treeHead), size: cs.size, root: cs.root };
  const wrongPurpose = toBase64(signJsonStatement(farmer.secretKey, 'hypha/chain-head/v1', statement));
  assert.notEqual(FARMER_BATCH_PURPOSE, 'hypha/chain-head/v1');
  assertFails(verifyReceipt({ ...a, countersign: { ...cs, signature: wrongPurpose } }), /^the farmer's batch countersignature does not verify$/);
});

test('checkReceiptBodyV2 checks a body alone, as an agent does before countersigning', () => {
  assert.equal(checkReceiptBodyV2(v2Body()), null);
  assert.equal(checkReceiptBodyV2({ ...v2Body(), v: 1 }), 'unsupported receipt version 1');
  assert.equal(checkReceiptBodyV2({ ...v2Body(), amount: '1.000000' }), 'amount 1.000000 is not pricePerHour x upSeconds / 3600 rounded down (0.049166)');
  assert.equal(checkReceiptBodyV2([]), 'a receipt must be a JSON object');
});
