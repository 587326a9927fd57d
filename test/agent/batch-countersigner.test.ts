// BatchCountersigner without sockets: chunks gathered in any order, one signature over the agreed receipts' root, refusals named, a bad head refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '../../src/identity/index.js';
import { BatchCountersigner } from '../../src/agent/batch-countersigner.js';
import { OPTIMISE_FROM_BATCH } from '../../src/agent/v8-tiering.js';
import { farmerBatchBytes } from '../../src/protocol/farmer-batch.js';
import { MerkleTree } from '../../src/protocol/merkle.js';
import { MAX_REFUSED_PER_BATCH, type AgentMessage, type CountersignBatchMessage } from '../../src/protocol/agent-messages.js';
import { receiptHash, receiptLeafHash, verifyReceipt, type ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { signatureHolds, treeHeadHash } from '../../src/protocol/tree-head.js';
import { actors, closeOf, headOver, T0, v2Body } from '../helpers/receipts.js';

const { gateway, farmer, stranger } = actors;

/** A countersigner for the farmer that disagrees with the receipts whose deployment is in `disputed`. */
function countersigner(disputed: ReadonlySet<string> = new Set(), pinned: string | undefined = gateway.agent): BatchCountersigner {
  return new BatchCountersigner({
    farmer: farmer.agent,
    secretKey: farmer.secretKey,
    gateway: () => pinned,
    disagreement: (r) => (disputed.has(r.deployment) ? `up-time ${r.upSeconds} s does not match this agent's record` : null),
  });
}

function chunks(bodies: readonly ReceiptBodyV2[], size: number, head = headOver(bodies, T0, null)): CountersignBatchMessage[] {
  const out: CountersignBatchMessage[] = [];
  for (let offset = 0; offset < bodies.length; offset += size) out.push({ type: 'countersign-batch', treeHead: head, total: bodies.length, offset, receipts: bodies.slice(offset, offset + size) });
  return out;
}

test('chunks in any order: no answer until the batch is whole, then one signature over the root of all its receipts', () => {
  const bodies = Array.from({ length: 7 }, (_, i) => v2Body({ deployment: `dep_${i}` }));
  const cs = countersigner();
  const parts = chunks(bodies, 3);
  assert.equal(cs.receive(parts[2] as CountersignBatchMessage), null);
  assert.equal(cs.receive(parts[0] as CountersignBatchMessage), null);
  const answer = cs.receive(parts[1] as CountersignBatchMessage) as AgentMessage;
  assert.equal(answer.type, 'batch-countersigned');
  if (answer.type !== 'batch-countersigned') return;
  const head = parts[0]?.treeHead as CountersignBatchMessage['treeHead'];
  const root = toHex(MerkleTree.fromLeafHashes(bodies.map((b) => receiptLeafHash(receiptHash(b)))).root());
  assert.deepEqual({ size: answer.size, root: answer.root, treeHead: answer.treeHead, refused: answer.refused }, { size: 7, root, treeHead: treeHeadHash(head), refused: [] });
  assert.ok(signatureHolds(answer.signature, farmerBatchBytes({ farmer: farmer.agent, treeHead: treeHeadHash(head), size: 7, root }), farmer.agent));
  // The same signature, put into receipts the way the gateway serves them, verifies offline.
  const served = closeOf(bodies, T0, null, [farmer]).receipts;
  assert.equal(served[4]?.countersign?.signature, answer.signature);
  assert.deepEqual(verifyReceipt(served[4]), { ok: true });
});

test('receipts it disagrees with, or that are not its own, are named and left out of the signed root', () => {
  const bodies = [v2Body({ deployment: 'dep_a' }), v2Body({ deployment: 'dep_b' }), v2Body({ deployment: 'dep_x', farmer: stranger }), v2Body({ deployment: 'dep_c', upSeconds: 100, withHead: false })];
  const broken = { ...v2Body({ deployment: 'dep_d' }), fee: '0.000000' };
  const answer = countersigner(new Set(['dep_b'])).receive(chunks([...bodies, broken], 10)[0] as CountersignBatchMessage) as AgentMessage;
  assert.equal(answer.type, 'batch-countersigned');
  if (answer.type !== 'batch-countersigned') return;
  assert.deepEqual(answer.refused.map((r) => [r.receiptId, r.reason.split(':')[0]]), [
    [bodies[1]?.id, "up-time 3540 s does not match this agent's record"],
    [bodies[2]?.id, 'the receipt names another farmer'],
    [broken.id, 'the receipt does not verify'],
  ]);
  const agreed = [bodies[0], bodies[3]] as ReceiptBodyV2[];
  assert.equal(answer.size, 2);
  assert.equal(answer.root, toHex(MerkleTree.fromLeafHashes(agreed.map((b) => receiptLeafHash(receiptHash(b)))).root()));
});

test('the whole batch is refused: a head signed by another key, a head of another gateway than the pinned one, nothing agreed, too much disagreement', () => {
  const bodies = [v2Body({ deployment: 'dep_a' })];
  const forged = chunks(bodies, 10, headOver(bodies, T0, null, stranger))[0] as CountersignBatchMessage;
  const reasonOf = (m: AgentMessage | null): string => (m?.type === 'batch-countersign-refused' ? m.reason : `not refused: ${m?.type ?? 'no answer'}`);
  assert.match(reasonOf(countersigner().receive(forged)), /^the tree head does not verify: the gateway's tree-head signature does not verify$/);
  assert.match(reasonOf(countersigner(new Set(), stranger.agent).receive(chunks(bodies, 10)[0] as CountersignBatchMessage)), /^the tree head does not verify: tree head signed by gateway/);
  assert.match(reasonOf(countersigner(new Set(['dep_a'])).receive(chunks(bodies, 10)[0] as CountersignBatchMessage)), /^up-time 3540 s does not match/);
  const many = Array.from({ length: MAX_REFUSED_PER_BATCH + 2 }, (_, i) => v2Body({ deployment: `dep_${i}`, withHead: false }));
  const disputed = new Set(many.slice(1).map((b) => b.deployment));
  assert.match(reasonOf(countersigner(disputed).receive(chunks(many, 5000)[0] as CountersignBatchMessage)), /^1001 of 1002 receipts disagree/);
});

test('the first chunk of a batch of OPTIMISE_FROM_BATCH receipts or more calls onLargeBatch, once; smaller batches never do', () => {
  const calls: number[] = [];
  const cs = new BatchCountersigner({ farmer: farmer.agent, secretKey: farmer.secretKey, gateway: () => gateway.agent, disagreement: () => null, onLargeBatch: (total) => calls.push(total) });
  const small = Array.from({ length: 3 }, (_, i) => v2Body({ deployment: `dep_s${i}` }));
  cs.receive({ type: 'countersign-batch', treeHead: headOver(small, T0, null), total: OPTIMISE_FROM_BATCH - 1, offset: 0, receipts: small });
  assert.deepEqual(calls, [], 'one receipt short of the bound');
  const head = headOver(small, T0 + 3_600_000, null);
  cs.receive({ type: 'countersign-batch', treeHead: head, total: OPTIMISE_FROM_BATCH, offset: 0, receipts: small });
  cs.receive({ type: 'countersign-batch', treeHead: head, total: OPTIMISE_FROM_BATCH, offset: 3, receipts: small });
  cs.receive({ type: 'countersign-batch', treeHead: headOver(small, T0 + 7_200_000, null), total: 5 * OPTIMISE_FROM_BATCH, offset: 0, receipts: small });
  assert.deepEqual(calls, [OPTIMISE_FROM_BATCH], 'once, at the first large chunk');
});
