// CloseHasher: a close's bodies hashed and its tree built in the worker give the same hashes and root as hashing them in the thread; a worker that dies mid-close is replaced by hashing in the thread; a dropped close's late answers reach nobody; a real 5,000-receipt close signs the root of its stored receipts.
import { test } from 'node:test';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { blake2b, canonicalJson, toHex } from '../../src/identity/index.js';
import { receiptBody, type ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { CloseHasher, sharedCloseHasher, WORKER_MIN_BODIES } from '../../src/gateway/billing/close-hasher.js';
import { IssuedBodies, sharedBuffer } from '../../src/gateway/billing/issued-bodies.js';
import { leafHashesOfItems, merkleRootOfLeafHashes } from '../../src/protocol/merkle.js';
import { ReceiptLog } from '../../src/gateway/billing/receipt-log.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';
import { UptimeBook } from '../../src/gateway/uptime/uptime-book.js';
import { testBilling } from '../helpers/billing-service.js';
import { deploymentRecord } from '../helpers/deployment-record.js';
import { scratchDir } from '../helpers/paths.js';
import { allHashesHex } from '../helpers/close-hashing.js';
import { FakeTable } from '../helpers/fake-table.js';
import { HOUR, T0 } from '../helpers/receipts.js';

/** Bodies of varied lengths (some empty, some multi-byte), distinct per `seed`. */
function text(seed: number, i: number): string {
  return `{"n":${i},"s":${seed},"pad":"${'é'.repeat((i * 7 + seed) % 13)}${'x'.repeat((i * 31 + seed) % 900)}"}`;
}

/** What hashing in the thread gives: each body's blake2b-256, and the RFC 9162 root of their leaves. */
function expected(bodies: IssuedBodies): { hashes: string; root: string } {
  const all = Array.from({ length: bodies.count }, (_, i) => blake2b(bodies.body(i), 32));
  const flat = Buffer.concat(all);
  return { hashes: flat.toString('hex'), root: toHex(merkleRootOfLeafHashes(leafHashesOfItems(flat, 32))) };
}

test('two closes hashed in the worker at once, posted in uneven jobs (one past the buffer\'s first size), give the hashes and roots of hashing in the thread', async () => {
  const hasher = new CloseHasher(0);
  const closes = [new IssuedBodies(0, sharedBuffer), new IssuedBodies(4, sharedBuffer)];
  const runs = closes.map((bodies) => hasher.begin(1, (first, hashes) => bodies.setHashes(first, hashes)));
  assert.ok(hasher.workerRunning);
  for (const [step, size] of [1, 0, 3, 17, 2, 250, 1].entries()) {
    closes.forEach((bodies, c) => {
      for (let k = 0; k < size; k++) bodies.add(text(c, bodies.count + step));
      bodies.post(runs[c] as (typeof runs)[number]);
    });
  }
  for (const [c, bodies] of closes.entries()) {
    const run = runs[c] as (typeof runs)[number];
    await run.hashed();
    const root = toHex(await run.root());
    const want = expected(bodies);
    assert.equal(allHashesHex(bodies), want.hashes, `close ${c}: hashes`);
    assert.equal(root, want.root, `close ${c}: root`);
  }
  assert.equal(toHex(await hasher.begin(1, () => undefined).root()), toHex(merkleRootOfLeafHashes(new Uint8Array(0))), 'a close of no bodies has the empty tree\'s root');
});

test('a worker that dies mid-close: the close\'s jobs are hashed again in the thread, its root is right, and later closes stay in the thread', async () => {
  const hasher = new CloseHasher(0);
  const bodies = new IssuedBodies(0, sharedBuffer);
  const run = hasher.begin(1, (first, hashes) => bodies.setHashes(first, hashes));
  for (let i = 0; i < 300; i++) bodies.add(text(7, i));
  bodies.post(run);
  await run.hashed();
  for (let i = 300; i < 420; i++) bodies.add(text(7, i));
  bodies.post(run);
  await hasher.killWorkerForTest();
  for (let i = 420; i < 500; i++) bodies.add(text(7, i));
  bodies.post(run);
  await run.hashed();
  const want = expected(bodies);
  assert.equal(allHashesHex(bodies), want.hashes);
  assert.equal(toHex(await run.root()), want.root);
  assert.equal(hasher.workerRunning, false);
  const later = new IssuedBodies(0, sharedBuffer);
  const laterRun = hasher.begin(WORKER_MIN_BODIES, (first, hashes) => later.setHashes(first, hashes));
  assert.equal(hasher.workerRunning, false, 'no new worker');
  later.add(text(8, 0));
  later.post(laterRun);
  assert.equal(toHex(await laterRun.root()), expected(later).root);
});

test('a dropped close\'s answers never reach its sink, even when they come after the drop', async () => {
  const hasher = new CloseHasher(0);
  const bodies = new IssuedBodies(0, sharedBuffer);
  let reached = 0;
  const run = hasher.begin(1, () => reached++);
  for (let i = 0; i < 200; i++) bodies.add(text(9, i));
  bodies.post(run);
  run.drop();
  // A later close on the same worker: its answer comes after the dropped one's (the worker answers in order).
  const next = new IssuedBodies(0, sharedBuffer);
  const nextRun = hasher.begin(1, (first, hashes) => next.setHashes(first, hashes));
  next.add(text(10, 0));
  next.post(nextRun);
  await nextRun.hashed();
  assert.equal(reached, 0);
  assert.equal(toHex(await nextRun.root()), expected(next).root);
});

test(`a real close of ${WORKER_MIN_BODIES + 904} deployments (hashed in the process's worker) signs the root of the receipts it stored in a real receipts.log, each under its body's blake2b-256`, async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const { receipts } = ReceiptLog.open(join(dir, 'receipts.log'));
  t.after(() => receipts.close());
  const table = new FakeTable<DeploymentRecord>();
  const uptime = new UptimeBook(HOUR, HOUR);
  const count = WORKER_MIN_BODIES + 904;
  for (let i = 0; i < count; i++) {
    await table.put(`dep_${i}`, deploymentRecord(`dep_${i}`, { customer: `uhCAkcustomer${i % 5}` }, T0));
    for (const atMs of [T0, T0 + HOUR]) uptime.record(`vm:dep_${i}`, { atMs, up: true });
  }
  const billing = testBilling({ receipts, deployments: table, uptime, ledger: { kind: 'embedded', balance: () => Promise.resolve({ unit: 'SPORE', availableMicros: 0n }), postBillingEvent: () => Promise.reject(new Error('not here')), payFarmer: () => Promise.reject(new Error('not here')), close: () => Promise.resolve() } });
  (billing as unknown as { settle: () => Promise<void> }).settle = () => Promise.resolve();
  await billing.closePeriod(T0, T0 + HOUR);
  assert.ok(sharedCloseHasher().workerRunning, 'the close was hashed in the worker');
  const head = receipts.treeHead(T0);
  const tree = receipts.tree(T0);
  assert.ok(head && tree);
  assert.equal(head.size, count);
  const leaves = Buffer.concat(Array.from({ length: count }, (_, i) => Buffer.from(receipts.leafHash(tree, i), 'hex')));
  assert.equal(head.root, toHex(merkleRootOfLeafHashes(leafHashesOfItems(leaves, 32))));
  for (const i of [0, 1, 2047, 2048, 4095, 4096, count - 1]) {
    const [entry] = await receipts.of(`dep_${i}`);
    assert.ok(entry);
    const body = receiptBody<ReceiptBodyV2>(await receipts.present(entry));
    assert.equal(entry.hash, toHex(blake2b(Buffer.from(canonicalJson(body), 'utf8'), 32)), `receipt ${i}: the hash of its body`);
    assert.equal(entry.hash, receipts.leafHash(tree, i), `receipt ${i}: its leaf's hash`);
  }
});
