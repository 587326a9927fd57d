// ReceiptLog with v2 closes: a tree head commits its receipts, a close cut short is left out and issued again, proofs and batch countersignatures served verify.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { toHex } from '../../src/identity/index.js';
import { READ_BACK_LEAVES, ReceiptLog, TREES_KEPT, type MoneyRecord, type ReceiptEntry } from '../../src/gateway/billing/receipt-log.js';
import { signFarmerBatch } from '../../src/protocol/farmer-batch.js';
import { MerkleTree } from '../../src/protocol/merkle.js';
import { parseAmount } from '../../src/protocol/money.js';
import { receiptHash, receiptLeafHash, verifyReceipt, verifyReceiptChain, type AnyReceipt, type ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { treeHeadHash, type SignedTreeHead } from '../../src/protocol/tree-head.js';
import { FakeMoneyStore } from '../helpers/fake-money-store.js';
import { scratchDir } from '../helpers/paths.js';
import { actors, headOver, HOUR, T0, v2Body } from '../helpers/receipts.js';

const { farmer, stranger } = actors;

/** The records of one close, as BillingService.store appends them. */
function closeRecords(bodies: readonly ReceiptBodyV2[], startMs: number, head: SignedTreeHead): MoneyRecord[] {
  return [
    { t: 'close_begin', periodStartMs: startMs },
    ...bodies.map((b, index): MoneyRecord => ({ t: 'receipt', receipt: b, periodStartMs: startMs, key: `k:${b.id}`, hash: receiptHash(b), index })),
    { t: 'tree_head', periodStartMs: startMs, head },
  ];
}

test('a closed period reopens with its tree head, and every receipt served from it verifies with its proof', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  const bodies = [v2Body({ deployment: 'dep_a' }), v2Body({ deployment: 'dep_b', farmer: stranger }), v2Body({ deployment: 'dep_c' })];
  const head = headOver(bodies, T0, null);
  const first = ReceiptLog.open(path).receipts;
  await first.append(closeRecords(bodies, T0, head));
  assert.equal(first.count(), 3);
  first.close();

  const { receipts, uncommitted } = ReceiptLog.open(path);
  t.after(() => receipts.close());
  assert.equal(uncommitted, 0);
  assert.deepEqual(receipts.treeHead(T0), head);
  assert.equal(receipts.lastTreeHeadHash(), treeHeadHash(head));
  for (const d of ['dep_a', 'dep_b', 'dep_c']) {
    const served = await Promise.all((await receipts.of(d)).map((e) => receipts.present(e)));
    assert.equal(served.length, 1);
    assert.deepEqual(verifyReceipt(served[0], actors.gateway.agent), { ok: true }, d);
  }
});

test('receipts of a close whose tree head never reached the log are left out, then issued again and chained', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  const p0 = [v2Body({ deployment: 'dep_a' })];
  const h0 = headOver(p0, T0, null);
  const log = ReceiptLog.open(path).receipts;
  await log.append(closeRecords(p0, T0, h0));
  // The next close is cut short after its receipts, before its head (a crash).
  const cut = [v2Body({ deployment: 'dep_a', startMs: T0 + HOUR, prev: receiptHash(p0[0] as ReceiptBodyV2), upSeconds: 10 })];
  await log.append(closeRecords(cut, T0 + HOUR, headOver(cut, T0 + HOUR, treeHeadHash(h0))).slice(0, -1));
  log.close();

  const reopened = ReceiptLog.open(path);
  assert.equal(reopened.uncommitted, 1, 'the cut receipt is counted, not kept');
  const r = reopened.receipts;
  assert.equal(r.has('dep_a', T0 + HOUR), false, 'so the period is issued again');
  assert.equal(r.treeHead(T0 + HOUR), undefined);
  const again = [v2Body({ deployment: 'dep_a', startMs: T0 + HOUR, prev: receiptHash(p0[0] as ReceiptBodyV2), upSeconds: 3600 })];
  const h1 = headOver(again, T0 + HOUR, treeHeadHash(h0));
  await r.append(closeRecords(again, T0 + HOUR, h1));
  r.close();

  const final = ReceiptLog.open(path).receipts;
  t.after(() => final.close());
  const chain = await Promise.all((await final.of('dep_a')).map((e) => final.present(e)));
  assert.deepEqual(chain.map((x) => x.upSeconds), [3540, 3600]);
  assert.deepEqual(verifyReceiptChain(chain), { ok: true });
});

test("a farmer's batch countersignature is served with each receipt's proof into the batch; refused receipts carry none", async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const bodies = [v2Body({ deployment: 'dep_a' }), v2Body({ deployment: 'dep_b', farmer: stranger }), v2Body({ deployment: 'dep_c' }), v2Body({ deployment: 'dep_d' })];
  const head = headOver(bodies, T0, null);
  const log = ReceiptLog.open(join(dir, 'receipts.log')).receipts;
  t.after(() => log.close());
  await log.append(closeRecords(bodies, T0, head));
  // The farmer agrees with dep_a and dep_d, and refuses dep_c.
  const agreed = [bodies[0], bodies[3]] as ReceiptBodyV2[];
  const root = toHex(MerkleTree.fromLeafHashes(agreed.map((b) => receiptLeafHash(receiptHash(b)))).root());
  const signature = signFarmerBatch({ farmer: farmer.agent, treeHead: treeHeadHash(head), size: 2, root }, farmer.secretKey);
  await log.append([{ t: 'batch_countersign', periodStartMs: T0, farmer: farmer.agent, size: 2, root, signature, refused: [(bodies[2] as ReceiptBodyV2).id], atMs: T0 + HOUR }]);
  const served = async (d: string): Promise<AnyReceipt> => log.present((await log.of(d))[0] as ReceiptEntry);
  for (const d of ['dep_a', 'dep_d']) {
    const r = await served(d);
    assert.ok('countersign' in r && r.countersign, `${d} is countersigned`);
    assert.deepEqual(verifyReceipt(r), { ok: true });
  }
  assert.equal('countersign' in (await served('dep_c')), false, 'the refused one is not');
  assert.equal((await log.of('dep_c'))[0]?.countersignRefused, 'refused in its batch');
  assert.deepEqual(log.awaitingBatchCountersign(T0).map((x) => x.farmers), [[stranger.agent]], 'the other farmer has not answered yet');
});

test('a tree head whose size does not match the receipts before it, or that does not chain, stops the open', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const bodies = [v2Body({ deployment: 'dep_a' }), v2Body({ deployment: 'dep_b' })];
  const wrongSize = join(dir, 'size.log');
  const a = ReceiptLog.open(wrongSize).receipts;
  await a.append(closeRecords(bodies.slice(0, 1), T0, headOver(bodies.slice(0, 1), T0, null)).slice(0, -1));
  await a.append([{ t: 'receipt', receipt: bodies[1] as ReceiptBodyV2, periodStartMs: T0, key: 'k', hash: receiptHash(bodies[1] as ReceiptBodyV2), index: 1 }]);
  await assert.rejects(a.append([{ t: 'tree_head', periodStartMs: T0, head: headOver(bodies.slice(0, 1), T0, null) }]), /has size 1 but 2 receipt\(s\) precede it/);
  a.close();
  assert.throws(() => ReceiptLog.open(wrongSize), /has size 1 but 2 receipt\(s\) precede it/, 'reading it again stops too');
  const unchained = join(dir, 'prev.log');
  const b = ReceiptLog.open(unchained).receipts;
  await assert.rejects(b.append(closeRecords(bodies, T0, headOver(bodies, T0, 'ab'.repeat(32)))), /does not chain to the previous head/);
  b.close();
  assert.throws(() => ReceiptLog.open(unchained), /does not chain to the previous head/);
});

test('settle reads receipts by state, owed payouts and a deployment\'s arrears from indexes kept as records are applied', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  const bodies = [v2Body({ deployment: 'dep_a' }), v2Body({ deployment: 'dep_b' }), v2Body({ deployment: 'dep_c', upSeconds: 0 })];
  const log = ReceiptLog.open(path).receipts;
  await log.append(closeRecords(bodies, T0, headOver(bodies, T0, null)));
  const [a, b, c] = bodies.map((x) => x.id) as [string, string, string];
  const ids = (list: ReadonlyArray<{ receipt: { id: string } }>): string[] => list.map((e) => e.receipt.id).sort();
  assert.deepEqual(ids(log.inState('issued')), [a, b, c].sort());
  await log.append([
    { t: 'paid', id: a, entryId: 'e1', atMs: T0 + HOUR },
    { t: 'arrears', id: b, availableMicros: '0', atMs: T0 + HOUR },
    { t: 'paid', id: c, entryId: null, atMs: T0 + HOUR },
  ]);
  assert.deepEqual(ids(log.inState('issued')), []);
  assert.deepEqual(ids(log.inState('arrears')), [b]);
  assert.deepEqual(ids(log.unpaidOut()), [a], 'a zero share is owed nothing');
  assert.equal(log.arrearsOfDeployment('dep_b'), 49_166n);
  assert.equal(log.arrearsOfDeployment('dep_a'), 0n);
  await log.append([{ t: 'paid', id: b, entryId: 'e2', atMs: T0 + 2 * HOUR }, { t: 'payout', id: a, farmer: farmer.agent, amountMicros: '44249', entryId: 'p1', atMs: T0 + 2 * HOUR }]);
  assert.equal(log.arrearsOfDeployment('dep_b'), 0n);
  assert.deepEqual(ids(log.unpaidOut()), [b]);
  log.close();
  // The same indexes come back from the file; a and c are settled (paid, and paid out or owed nothing), so only b stays in memory.
  const again = ReceiptLog.open(path).receipts;
  t.after(() => again.close());
  assert.deepEqual(ids(again.inState('paid')), [b]);
  assert.deepEqual(ids(again.unpaidOut()), [b]);
  assert.deepEqual(again.footprint().receipts, 1);
  const [readA] = await again.of('dep_a');
  assert.deepEqual([readA?.state, readA?.paidOut, readA?.receipt.id], ['paid', true, a], 'a settled receipt read back from the file');
  assert.deepEqual(again.totalsOf('dep_a'), { upSeconds: 3540, chargedMicros: 49_166n, arrearsMicros: 0n, heldMicros: 0n, returnedMicros: 0n });
});

test('memory does not grow with history: settled receipts leave memory, only the last periods keep their trees, and old receipts are read back with proofs that verify', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  const deployments = ['dep_a', 'dep_b', 'dep_c'];
  const periods = TREES_KEPT + 4;
  const log = ReceiptLog.open(path).receipts;
  const prev = new Map<string, string | null>();
  let headPrev: string | null = null;
  for (let p = 0; p < periods; p++) {
    const startMs = T0 + p * HOUR;
    const bodies = deployments.map((d, i) => v2Body({ deployment: d, startMs, prev: prev.get(d) ?? null, farmer: i === 1 ? stranger : farmer }));
    const head = headOver(bodies, startMs, headPrev);
    await log.append(closeRecords(bodies, startMs, head));
    // The farmer countersigns its two receipts of every period.
    const mine = [bodies[0], bodies[2]] as ReceiptBodyV2[];
    const root = toHex(MerkleTree.fromLeafHashes(mine.map((b) => receiptLeafHash(receiptHash(b)))).root());
    const signature = signFarmerBatch({ farmer: farmer.agent, treeHead: treeHeadHash(head), size: 2, root }, farmer.secretKey);
    await log.append([{ t: 'batch_countersign', periodStartMs: startMs, farmer: farmer.agent, size: 2, root, signature, refused: [], atMs: startMs + HOUR }]);
    // Every receipt is paid and paid out.
    await log.append(bodies.flatMap((b): MoneyRecord[] => [
      { t: 'paid', id: b.id, entryId: `e:${b.id}`, atMs: startMs + HOUR },
      { t: 'payout', id: b.id, farmer: b.farmer, amountMicros: parseAmount('farmerShare', b.farmerShare).toString(), entryId: `p:${b.id}`, atMs: startMs + HOUR },
    ]));
    for (const b of bodies) prev.set(b.deployment, receiptHash(b));
    headPrev = treeHeadHash(head);
  }
  assert.deepEqual(log.footprint(), { receipts: 0, trees: TREES_KEPT }, 'nothing settled is held whole, and only the last periods keep their trees');
  assert.equal(log.count(), periods * deployments.length);
  log.close();

  const reopened = ReceiptLog.open(path).receipts;
  t.after(() => reopened.close());
  assert.deepEqual(reopened.footprint(), { receipts: 0, trees: TREES_KEPT }, 'the same after reading the file again');
  assert.equal(reopened.tree(T0), undefined, 'the first period is no longer kept');
  for (const d of deployments) {
    const entries = await reopened.of(d);
    assert.equal(entries.length, periods, `${d}: every period read back`);
    const served = [];
    for (const e of entries) served.push(await reopened.present(e));
    for (const [i, r] of served.entries()) assert.deepEqual(verifyReceipt(r, actors.gateway.agent), { ok: true }, `${d} period ${i}`);
    assert.deepEqual(verifyReceiptChain(served), { ok: true });
    assert.equal('countersign' in (served[0] as AnyReceipt), d !== 'dep_b', `${d}: the oldest period's batch countersignature is read back too`);
    assert.deepEqual(reopened.totalsOf(d), { upSeconds: 3540 * periods, chargedMicros: 49_166n * BigInt(periods), arrearsMicros: 0n, heldMicros: 0n, returnedMicros: 0n });
  }
  assert.equal(reopened.footprint().trees, periods, 'old trees read back for proofs are kept while their leaves fit READ_BACK_LEAVES (here all four)');
});

test('ReceiptLog works over any MoneyStore: settled receipts are read back through the port, and reopening replays it', async () => {
  const store = new FakeMoneyStore();
  const { receipts: log } = await ReceiptLog.over(store.opener());
  const bodies = [v2Body({ deployment: 'dep_a' }), v2Body({ deployment: 'dep_b', farmer: stranger })];
  await log.append(closeRecords(bodies, T0, headOver(bodies, T0, null)));
  await log.append(bodies.flatMap((b): MoneyRecord[] => [
    { t: 'paid', id: b.id, entryId: `e:${b.id}`, atMs: T0 + HOUR },
    { t: 'payout', id: b.id, farmer: b.farmer, amountMicros: parseAmount('farmerShare', b.farmerShare).toString(), entryId: `p:${b.id}`, atMs: T0 + HOUR },
  ]));
  assert.equal(log.footprint().receipts, 0);
  const before = store.reads;
  const [a] = await log.of('dep_a');
  assert.equal(store.reads, before + 1, 'the settled receipt came from the store');
  assert.deepEqual(verifyReceipt(await log.present(a as ReceiptEntry), actors.gateway.agent), { ok: true });
  const { receipts: again, uncommitted } = await ReceiptLog.over(store.opener());
  assert.equal(uncommitted, 0);
  assert.equal(again.count(), 2);
  assert.equal(again.lastHash('dep_b'), receiptHash(bodies[1] as ReceiptBodyV2));
});

test('a held charge released, paid and paid out leaves memory, and read back it still says when and how it was released', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  const log = ReceiptLog.open(path).receipts;
  const body: ReceiptBodyV2 = { ...v2Body({ deployment: 'dep_h', startMs: T0 }), held: true };
  await log.append(closeRecords([body], T0, headOver([body], T0, null)));
  assert.deepEqual(log.held().map((e) => e.receipt.id), [body.id]);
  assert.equal(log.totalsOf('dep_h').heldMicros, parseAmount('amount', body.amount));
  const releasedAt = T0 + HOUR + 5;
  await log.append([{ t: 'escrow_release', id: body.id, how: 'login', atMs: releasedAt }]);
  await log.append([{ t: 'paid', id: body.id, entryId: 'e1', atMs: releasedAt }, { t: 'payout', id: body.id, farmer: farmer.agent, amountMicros: parseAmount('farmerShare', body.farmerShare).toString(), entryId: 'p1', atMs: releasedAt }]);
  assert.equal(log.footprint().receipts, 0, 'settled: it left memory');
  assert.equal(log.totalsOf('dep_h').heldMicros, 0n);
  const expected = { state: 'released', atMs: releasedAt, how: 'login' };
  assert.deepEqual((await log.of('dep_h'))[0]?.escrow, expected, 'read back from the same log');
  log.close();
  const reopened = ReceiptLog.open(path).receipts;
  t.after(() => reopened.close());
  assert.deepEqual((await reopened.of('dep_h'))[0]?.escrow, expected, 'and after a restart');
});

/**
 * FakeQueryMoneyStore: a store whose read, like PgMoneyStore.read (src/gateway/store/postgres/pg-money-store.ts),
 * sends the positions asked as a query, waits for the answer, then maps the caller's positions to the rows it got.
 */
class FakeQueryMoneyStore extends FakeMoneyStore {
  private gate: Promise<void> | undefined;
  release: () => void = () => undefined;

  /** The next read waits until `release()`. */
  holdNextRead(): void {
    this.gate = new Promise((resolve) => (this.release = resolve));
  }

  override async read(positions: readonly number[]): Promise<MoneyRecord[]> {
    const asked = new Set(positions);
    const gate = this.gate;
    this.gate = undefined;
    await gate;
    return positions.map((p) => {
      if (!asked.has(p) || this.rows[p] === undefined) throw new Error(`no record at position ${p}`);
      return JSON.parse(this.rows[p]) as MoneyRecord;
    });
  }
}

test("a deployment's receipts read while a close commits its next receipt: the read answers what was there when it began", async () => {
  const store = new FakeQueryMoneyStore();
  const { receipts: log } = await ReceiptLog.over(store.opener());
  const p0 = [v2Body({ deployment: 'dep_a' })];
  const h0 = headOver(p0, T0, null);
  await log.append(closeRecords(p0, T0, h0));
  store.holdNextRead();
  const reading = log.of('dep_a');
  // The next close commits while the read waits for the store.
  const p1 = [v2Body({ deployment: 'dep_a', startMs: T0 + HOUR, prev: receiptHash(p0[0] as ReceiptBodyV2), upSeconds: 10 })];
  await log.append(closeRecords(p1, T0 + HOUR, headOver(p1, T0 + HOUR, treeHeadHash(h0))));
  store.release();
  const read = await reading;
  assert.deepEqual(read.map((e) => e.receipt.id), [(p0[0] as ReceiptBodyV2).id]);
  assert.deepEqual((await log.of('dep_a')).map((e) => e.receipt.id), [p0, p1].map((p) => (p[0] as ReceiptBodyV2).id));
});

/** FakeMoneyStore that also counts range reads (a period's tree read back: ReceiptLog.treeOf). */
class FakeRangeCountingStore extends FakeMoneyStore {
  rangeReads = 0;

  override readRange(from: number, to: number): Promise<Array<{ position: number; record: MoneyRecord }>> {
    this.rangeReads++;
    return super.readRange(from, to);
  }
}

test("a customer's list of a deployment's receipts reads only the receipts, not each old period's tree; presented, they are what `of` gives", async () => {
  const store = new FakeRangeCountingStore();
  const { receipts: log } = await ReceiptLog.over(store.opener());
  const periods = TREES_KEPT + 4;
  let prev: string | null = null;
  let headPrev: string | null = null;
  for (let p = 0; p < periods; p++) {
    const startMs = T0 + p * HOUR;
    const bodies = [v2Body({ deployment: 'dep_a', startMs, prev })];
    const head = headOver(bodies, startMs, headPrev);
    await log.append(closeRecords(bodies, startMs, head));
    prev = receiptHash(bodies[0] as ReceiptBodyV2);
    headPrev = treeHeadHash(head);
  }
  const listed = await log.listed('dep_a');
  assert.equal(store.rangeReads, 0, "no period's tree was read back for the list");
  const full = await log.of('dep_a');
  assert.ok(store.rangeReads >= periods - TREES_KEPT, '`of` reads back the trees of the periods no longer kept (the batch standing)');
  assert.deepEqual(listed.map((e) => e.receipt.id), full.map((e) => e.receipt.id));
  for (const [i, e] of listed.entries()) assert.deepEqual(await log.present(e), await log.present(full[i] as ReceiptEntry));
});

test('old trees read back for proofs stay in memory for the next request, within a bound on their leaves', async () => {
  const build = async (readBackLeaves?: number): Promise<{ log: ReceiptLog; store: FakeRangeCountingStore }> => {
    const store = new FakeRangeCountingStore();
    const { receipts: log } = await ReceiptLog.over(store.opener(), readBackLeaves === undefined ? {} : { readBackLeaves });
    let prev: string | null = null;
    let headPrev: string | null = null;
    for (let p = 0; p < TREES_KEPT + 6; p++) {
      const startMs = T0 + p * HOUR;
      const bodies = [v2Body({ deployment: 'dep_a', startMs, prev })];
      const head = headOver(bodies, startMs, headPrev);
      await log.append(closeRecords(bodies, startMs, head));
      prev = receiptHash(bodies[0] as ReceiptBodyV2);
      headPrev = treeHeadHash(head);
    }
    return { log, store };
  };
  const page = async (log: ReceiptLog): Promise<AnyReceipt[]> => Promise.all((await log.listed('dep_a')).map((e) => log.present(e)));
  assert.ok(READ_BACK_LEAVES >= 100_000, 'the default keeps many small trees');
  const roomy = await build();
  const first = await page(roomy.log);
  assert.equal(roomy.store.rangeReads, 6, 'each of the six old periods read back once');
  assert.deepEqual(await page(roomy.log), first);
  assert.equal(roomy.store.rangeReads, 6, 'the same page again reads no tree');
  assert.equal(roomy.log.footprint().trees, TREES_KEPT + 6);
  // Room for two one-leaf trees: the rest are dropped, oldest used first.
  const tight = await build(2);
  assert.deepEqual(await page(tight.log), first);
  assert.equal(tight.log.footprint().trees, TREES_KEPT + 2);
  await page(tight.log);
  assert.ok(tight.store.rangeReads > 6, 'with room for two, the page reads trees again');
});
