// The close's and the settle's overlapped stores: the tree head is built while the last receipt batch is stored but appended only once that batch is acknowledged; a settle posts on while its last paid records are stored, one append in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReceiptLog, type MoneyRecord } from '../../src/gateway/billing/receipt-log.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';
import { sign } from '../../src/identity/index.js';
import { testBilling } from '../helpers/billing-service.js';
import { deploymentRecord } from '../helpers/deployment-record.js';
import { FakeMoneyStore } from '../helpers/fake-money-store.js';
import { FakeTable } from '../helpers/fake-table.js';
import { actors, HOUR, T0 } from '../helpers/receipts.js';

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

async function closeRig(store: FakeHeldMoneyStore, deployments: number): Promise<{ receipts: ReceiptLog; close: () => Promise<void> }> {
  const { receipts } = await ReceiptLog.over(store.opener());
  const table = new FakeTable<DeploymentRecord>();
  for (let i = 0; i < deployments; i++) await table.put(`dep_${i}`, deploymentRecord(`dep_${i}`, { customer: `uhCAkcustomer${i % 3}` }, T0));
  const billing = testBilling({
    receipts,
    deployments: table,
    nowMs: T0 + HOUR + 60_000,
    gateway: {
      agent: actors.gateway.agent,
      sign: (m) => {
        store.steps.push('tree head signed');
        return sign(actors.gateway.secretKey, m);
      },
    },
    // A ledger that is never reached in these tests' closes: the settle is not what they look at.
    ledger: { kind: 'embedded', balance: () => Promise.reject(new Error('unused')), postBillingEvent: () => Promise.reject(new Error('unused')), payFarmer: () => Promise.reject(new Error('unused')) } as never,
  });
  // The close alone: the settle after it is another test's subject.
  (billing as unknown as { settle: () => Promise<void> }).settle = () => Promise.resolve();
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
