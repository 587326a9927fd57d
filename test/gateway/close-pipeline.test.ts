// The close's and the settle's overlapped stores: the tree head is built while the last receipt batch is stored but appended only once that batch is acknowledged; a settle posts on while its last paid records are stored, one append in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReceiptLog, type MoneyRecord } from '../../src/gateway/billing/receipt-log.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';
import { testBilling } from '../helpers/billing-service.js';
import { deploymentRecord } from '../helpers/deployment-record.js';
import { FakeMoneyStore } from '../helpers/fake-money-store.js';
import { FakeTable } from '../helpers/fake-table.js';
import { UptimeBook } from '../../src/gateway/uptime/uptime-book.js';
import type { BatchPostResult, BillingEvent, Ledger } from '../../src/gateway/ledger/ledger.js';
import { SETTLE_BATCH } from '../../src/gateway/billing/paid-batch.js';
import { actors, HOUR, T0 } from '../helpers/receipts.js';
import { join } from 'node:path';
import { blake2b, canonicalJson, fromHex, sign, toHex } from '../../src/identity/index.js';
import { leafHashesOfItems, merkleRootOfLeafHashes } from '../../src/protocol/merkle.js';
import { receiptBody, type ReceiptBodyV2 } from '../../src/protocol/receipt.js';
import { scratchDir } from '../helpers/paths.js';

/**
 * A fake MoneyStore, named as one (FakeMoneyStore, shaped from FileMoneyStore, with appends that can be
 * held): an append whose records match `hold` is acknowledged (or refused) only when the test says so,
 * as a batch synced aside is acknowledged only once its fdatasync ends (src/gateway/store/append-log.ts).
 * `steps` names what happened, in order.
 */
class FakeHeldMoneyStore extends FakeMoneyStore {
  readonly steps: string[] = [];
  hold: (records: readonly MoneyRecord[]) => boolean = () => false;
  private readonly held: Array<{ release: () => void; refuse: (e: Error) => void }> = [];

  override append(records: readonly MoneyRecord[]): Promise<number[]> {
    const what = `${records[0]?.t ?? 'nothing'}×${records.length}`;
    this.steps.push(`append ${what}`);
    if (!this.hold(records)) return super.append(records);
    return new Promise<number[]>((resolve, reject) => {
      this.held.push({
        release: () => {
          this.steps.push(`acknowledged ${what}`);
          resolve(super.append(records));
        },
        refuse: (e) => {
          this.steps.push(`refused ${what}`);
          reject(e);
        },
      });
    });
  }

  /** Resolves once an append is being held (polling the event loop: no timing). */
  async nextHeld(): Promise<{ release: () => void; refuse: (e: Error) => void }> {
    while (this.held.length === 0) await new Promise((resolve) => setImmediate(resolve));
    return this.held.shift() as { release: () => void; refuse: (e: Error) => void };
  }
}

/**
 * A fake Ledger, named as one (the Ledger port, src/gateway/ledger/ledger.ts; shaped from bench/billing's
 * FakeInstantLedger): every charge and payout answered "paid" at once; counts the calls.
 */
class FakeInstantLedger implements Ledger {
  readonly kind = 'embedded' as const;
  calls = 0;
  balance(): Promise<{ unit: string; availableMicros: bigint }> {
    return Promise.resolve({ unit: 'SPORE', availableMicros: 10n ** 15n });
  }
  postBillingEvent(): Promise<{ status: 'paid'; entryId: string }> {
    return Promise.resolve({ status: 'paid', entryId: `fake-${++this.calls}` });
  }
  postBillingEvents(_customer: string, events: readonly BillingEvent[]): Promise<BatchPostResult> {
    const id = `fake-${++this.calls}`;
    return Promise.resolve({ status: 'paid', entryIds: events.map(() => id) });
  }
  payFarmer(): Promise<{ status: 'paid'; entryId: string }> {
    return Promise.resolve({ status: 'paid', entryId: `fake-payout-${++this.calls}` });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Billing over `store` with `deployments` active VMs of three customers; `settle: false` leaves the settle after a close out. */
async function closeRig(store: FakeHeldMoneyStore | { path: string }, deployments: number, options: { settle?: boolean; ledger?: Ledger; closeBatchReceipts?: number } = {}): Promise<{ receipts: ReceiptLog; close: () => Promise<void> }> {
  const { receipts } = store instanceof FakeHeldMoneyStore ? await ReceiptLog.over(store.opener()) : ReceiptLog.open(store.path);
  const table = new FakeTable<DeploymentRecord>();
  // Up the whole hour (samples an interval apart), so each receipt charges and is posted to the ledger.
  const uptime = new UptimeBook(HOUR, HOUR);
  for (let i = 0; i < deployments; i++) {
    await table.put(`dep_${i}`, deploymentRecord(`dep_${i}`, { customer: `uhCAkcustomer${i % 3}` }, T0));
    for (const atMs of [T0, T0 + HOUR]) uptime.record(`vm:dep_${i}`, { atMs, up: true });
  }
  const billing = testBilling({
    receipts,
    deployments: table,
    uptime,
    nowMs: T0 + HOUR + 60_000,
    gateway: {
      agent: actors.gateway.agent,
      sign: (m) => {
        if (store instanceof FakeHeldMoneyStore) store.steps.push('tree head signed');
        return sign(actors.gateway.secretKey, m);
      },
    },
    ledger: options.ledger ?? new FakeInstantLedger(),
    ...(options.closeBatchReceipts ? { closeBatchReceipts: options.closeBatchReceipts } : {}),
  });
  // The close alone, unless asked: the settle after it is another test's subject.
  if (options.settle !== true) (billing as unknown as { settle: () => Promise<void> }).settle = () => Promise.resolve();
  return { receipts, close: () => billing.closePeriod(T0, T0 + HOUR) };
}

test('a close signs its tree head while its last receipt batch is being stored, and appends the head only once that batch is acknowledged', async () => {
  const store = new FakeHeldMoneyStore();
  store.hold = (records) => records[0]?.t === 'receipt';
  const { receipts, close } = await closeRig(store, 5);
  const closing = close();
  const batch = await store.nextHeld();
  // Let the close run on as far as it will while the batch is not acknowledged.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(store.steps, ['append close_begin×1', 'append receipt×5', 'tree head signed'], 'signed during the batch\'s store; no head appended yet');
  batch.release();
  await closing;
  assert.deepEqual(store.steps, ['append close_begin×1', 'append receipt×5', 'tree head signed', 'acknowledged receipt×5', 'append tree_head×1']);
  assert.notEqual(receipts.treeHead(T0), undefined, 'the close is committed');
  assert.equal(receipts.inState('issued').length, 5);
});

test('a close of many batches has at most two receipt batches appended and not acknowledged, issues on meanwhile, and appends its head only after the last is acknowledged', async () => {
  const store = new FakeHeldMoneyStore();
  store.hold = (records) => records[0]?.t === 'receipt';
  const { receipts, close } = await closeRig(store, 20, { closeBatchReceipts: 4 });
  const closing = close();
  for (let acknowledged = 0; acknowledged < 5; acknowledged++) {
    const batch = await store.nextHeld();
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    const appended = store.steps.filter((s) => s === 'append receipt×4').length;
    assert.equal(appended - acknowledged, Math.min(2, 5 - acknowledged), `batches in flight after ${acknowledged} acknowledged`);
    assert.ok(!store.steps.includes('append tree_head×1'), 'no head while a batch is unacknowledged');
    batch.release();
  }
  await closing;
  assert.equal(store.steps.at(-1), 'append tree_head×1');
  assert.equal(receipts.inState('issued').length, 20);
});

test('a close of many batches stored in a real receipts.log, two batches in flight, reopens to every receipt under the hash of its body, on the signed root', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const path = join(dir, 'receipts.log');
  const { receipts, close } = await closeRig({ path }, 21, { closeBatchReceipts: 4 });
  await close();
  receipts.close();
  const reopened = ReceiptLog.open(path).receipts;
  const tree = reopened.tree(T0);
  const head = reopened.treeHead(T0);
  assert.ok(tree && head);
  assert.equal(head.size, 21);
  const leaves: Uint8Array[] = [];
  for (let i = 0; i < 21; i++) {
    const [entry] = await reopened.of(`dep_${i}`);
    assert.ok(entry, `dep_${i}`);
    const body = receiptBody<ReceiptBodyV2>(await reopened.present(entry));
    assert.equal(entry.hash, toHex(blake2b(Buffer.from(canonicalJson(body), 'utf8'), 32)), `dep_${i}: its hash is its stored body's`);
    leaves.push(fromHex('leaf', reopened.leafHash(tree, i)));
  }
  assert.equal(head.root, toHex(merkleRootOfLeafHashes(leafHashesOfItems(Buffer.concat(leaves), 32))));
  reopened.close();
});

test('a close whose last receipt batch is refused appends no tree head: the close stays uncommitted, and closing it again issues and commits it once', async () => {
  const store = new FakeHeldMoneyStore();
  store.hold = (records) => records[0]?.t === 'receipt';
  const { receipts, close } = await closeRig(store, 4);
  const closing = close();
  (await store.nextHeld()).refuse(new Error('disk full'));
  await assert.rejects(closing, /disk full/);
  assert.equal(store.steps.includes('append tree_head×1'), false, 'no head after a refused batch');
  assert.equal(receipts.treeHead(T0), undefined);
  store.hold = () => false;
  await close();
  assert.notEqual(receipts.treeHead(T0), undefined);
  assert.equal(receipts.inState('issued').length, 4, 'each receipt committed once');
});

test('a settle posts on while its paid records are being stored, with one append in flight: the next is appended once the one before is acknowledged, and the settle ends after both', async () => {
  const store = new FakeHeldMoneyStore();
  const ledger = new FakeInstantLedger();
  // More receipts than one paid_batch holds: the settle appends a first batch while receipts are left to post.
  const { receipts, close } = await closeRig(store, SETTLE_BATCH + 300, { settle: true, ledger });
  let holding = true;
  let callsAtHold = -1;
  store.hold = (records) => {
    if (!holding || records[0]?.t !== 'paid_batch') return false;
    callsAtHold = ledger.calls;
    return true;
  };
  const closing = close();
  const first = await store.nextHeld();
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(ledger.calls > callsAtHold, `the settle went on posting while the first paid_batch was stored (${ledger.calls} ledger calls, ${callsAtHold} when it was appended)`);
  const paidAppends = (): string[] => store.steps.filter((s) => s.includes('paid_batch'));
  assert.deepEqual(paidAppends(), [`append paid_batch×1`], 'the next paid_batch waits for the first to be acknowledged');
  holding = false;
  first.release();
  await closing;
  assert.deepEqual(paidAppends(), ['append paid_batch×1', 'acknowledged paid_batch×1', 'append paid_batch×1']);
  assert.equal(receipts.inState('issued').length, 0, 'every receipt recorded paid before the settle ended');
  assert.equal(receipts.periodTotals()[0]?.[1].chargedMicros, BigInt(SETTLE_BATCH + 300) * 50_000n, 'each charged once (0.05 an hour, an hour each)');
});

test('a settle whose paid_batch append is refused rejects, and the next settle posts them again and records each one paid once', async () => {
  const store = new FakeHeldMoneyStore();
  const ledger = new FakeInstantLedger();
  const { receipts, close } = await closeRig(store, SETTLE_BATCH + 300, { settle: true, ledger });
  let refusing = true;
  store.hold = (records) => refusing && records[0]?.t === 'paid_batch';
  const closing = close();
  (await store.nextHeld()).refuse(new Error('disk full'));
  await assert.rejects(closing, /disk full/);
  assert.equal(store.steps.filter((s) => s === 'append paid_batch×1').length, 1, 'nothing appended after the refused batch');
  const issuedLeft = receipts.inState('issued').length;
  assert.equal(issuedLeft, SETTLE_BATCH + 300, 'no receipt recorded paid');
  refusing = false;
  await close();
  assert.equal(receipts.inState('issued').length, 0);
  assert.equal(receipts.periodTotals()[0]?.[1].chargedMicros, BigInt(SETTLE_BATCH + 300) * 50_000n, 'each charged once in the totals');
});
