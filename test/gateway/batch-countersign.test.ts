// BillingService.onBatchCountersign on a real ReceiptLog: a farmer's batch signature is kept only when its root, size and signature match what was issued.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { sign, toHex } from '../../src/identity/index.js';
import { BillingService } from '../../src/gateway/billing/billing-service.js';
import { ReceiptLog, type MoneyRecord, type ReceiptEntry } from '../../src/gateway/billing/receipt-log.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';
import { UptimeBook } from '../../src/gateway/uptime/uptime-book.js';
import { signFarmerBatch } from '../../src/protocol/farmer-batch.js';
import { MerkleTree } from '../../src/protocol/merkle.js';
import { receiptHash, receiptLeafHash, verifyReceipt, type ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { treeHeadHash } from '../../src/protocol/tree-head.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { FakeTable } from '../helpers/fake-table.js';
import { scratchDir } from '../helpers/paths.js';
import { actors, headOver, HOUR, T0, v2Body } from '../helpers/receipts.js';

const { gateway, farmer, stranger } = actors;

test("a farmer's batch countersignature is kept only if it covers exactly the receipts it agrees with", async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const receipts = ReceiptLog.open(join(dir, 'receipts.log')).receipts;
  t.after(() => receipts.close());
  const bodies = [v2Body({ deployment: 'dep_a' }), v2Body({ deployment: 'dep_b' }), v2Body({ deployment: 'dep_x', farmer: stranger })];
  const head = headOver(bodies, T0, null);
  const records: MoneyRecord[] = [{ t: 'close_begin', periodStartMs: T0 }, ...bodies.map((b, index): MoneyRecord => ({ t: 'receipt', receipt: b, periodStartMs: T0, key: b.id, hash: receiptHash(b), index })), { t: 'tree_head', periodStartMs: T0, head }];
  await receipts.append(records);
  const events = new FakeEventSink();
  const billing = new BillingService({
    clock: new FakeClock(T0 + HOUR),
    gateway: { agent: gateway.agent, sign: (m) => sign(gateway.secretKey, m) },
    receipts,
    deployments: new FakeTable<DeploymentRecord>(),
    uptime: new UptimeBook(15_000, HOUR),
    ledger: { kind: 'embedded', balance: () => Promise.reject(new Error('unused')), postBillingEvent: () => Promise.reject(new Error('unused')), payFarmer: () => Promise.reject(new Error('unused')), close: () => Promise.resolve() },
    lifecycle: { setPaused: () => Promise.resolve(false), end: (d) => Promise.resolve(d) },
    agents: { agentHead: () => null, requestCountersign: () => undefined, verifyCountersignature: () => false, requestBatchCountersign: () => undefined },
    events,
    log: pino({ level: 'silent' }),
    policy: { farmerShareBps: 9000, graceMs: 72 * HOUR, pauseInGrace: true, periodMs: HOUR },
  });
  const headHash = treeHeadHash(head);
  const rootOf = (list: readonly ReceiptBodyV2[]): string => toHex(MerkleTree.fromLeafHashes(list.map((b) => receiptLeafHash(receiptHash(b)))).root());
  const [a, b] = bodies as [ReceiptBodyV2, ReceiptBodyV2];
  const statement = (list: readonly ReceiptBodyV2[]): { farmer: string; treeHead: string; size: number; root: string } => ({ farmer: farmer.agent, treeHead: headHash, size: list.length, root: rootOf(list) });

  // Claims to agree with both but signs a root over one: not kept.
  const overOne = statement([a]);
  await billing.onBatchCountersign(headHash, farmer.agent, { ...overOne, signature: signFarmerBatch(overOne, farmer.secretKey), refused: [] });
  // Signed by another key: not kept.
  const both = statement([a, b]);
  await billing.onBatchCountersign(headHash, farmer.agent, { ...both, signature: signFarmerBatch(both, stranger.secretKey), refused: [] });
  assert.equal(events.events.filter((e) => e.event === 'receipt.countersign_invalid').length, 2);
  assert.equal(receipts.tree(T0)?.batches.has(farmer.agent), false);

  // Agrees with dep_a, refuses dep_b: kept, served with dep_a, and dep_b is marked refused.
  await billing.onBatchCountersign(headHash, farmer.agent, { ...overOne, signature: signFarmerBatch(overOne, farmer.secretKey), refused: [{ receiptId: b.id, reason: 'up-time differs' }] });
  assert.equal(receipts.tree(T0)?.batches.get(farmer.agent)?.size, 1);
  const servedA = await receipts.present((await receipts.of('dep_a'))[0] as ReceiptEntry);
  assert.ok('countersign' in servedA && servedA.countersign);
  assert.deepEqual(verifyReceipt(servedA, gateway.agent), { ok: true });
  assert.equal((await receipts.of('dep_b'))[0]?.countersignRefused, 'refused in its batch');
  assert.ok(events.events.some((e) => e.event === 'receipt.countersign_refused' && e.detail.includes(b.id)));
  // A second answer for the same head changes nothing; an unknown head is ignored.
  await billing.onBatchCountersign(headHash, farmer.agent, { reason: 'changed my mind' });
  assert.equal(receipts.tree(T0)?.refusedBy.has(farmer.agent), false);
  await billing.onBatchCountersign('ab'.repeat(32), farmer.agent, { reason: 'no such head' });
  // The other farmer refuses its whole batch.
  await billing.onBatchCountersign(headHash, stranger.agent, { reason: 'the tree head does not verify' });
  assert.equal((await receipts.of('dep_x'))[0]?.countersignRefused, 'the tree head does not verify');
});
