// The customer page's live part with the real OrderService, DeploymentService and CustomerViews: an order handed over while the page waits for the ledger's balance is never shown active without its deployment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pino } from 'pino';
import { OrderService } from '../../src/gateway/orders/order-service.js';
import { OrderArchive } from '../../src/gateway/orders/order-archive.js';
import { DeploymentService } from '../../src/gateway/deployments/deployment-service.js';
import { CustomerViews } from '../../src/gateway/http/customer-views.js';
import { customerLiveView } from '../../src/gateway/page/customer-live-view.js';
import { EmbeddedLedger } from '../../src/gateway/ledger/embedded-ledger.js';
import type { Balance, Ledger } from '../../src/gateway/ledger/ledger.js';
import type { NodeCandidate, Provisioner, VmHandle, VmSpec, VmStatus } from '../../src/gateway/provision/provisioner.js';
import type { DeploymentRecord, OrderRecord } from '../../src/gateway/store/records.js';
import type { Offer } from '../../src/protocol/offer.js';
import { UNIT } from '../../src/protocol/money.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { FakeTable } from '../helpers/fake-table.js';
import { readVectors, scratchDir } from '../helpers/paths.js';

const HOUR_MS = 3_600_000;
const SMALL: Offer = { id: 'small', cpu: 1, memoryGb: 2, diskGb: 25, pricePerHourMicros: 50_000n, unit: UNIT };
const KEY = (readVectors<{ accepted: { line: string }[] }>('ssh-keys.json').accepted[0] as { line: string }).line;

/** A fake of the Provisioner port (src/gateway/provision/provisioner.ts), named as one: one node with room, every deploy succeeds at once. */
class FakeOneNodeProvisioner implements Provisioner {
  readonly kind = 'agent' as const;
  candidateNodes(_offer: Offer): Promise<NodeCandidate[]> {
    return Promise.resolve([{ node: 'n1', farmer: 'uhCAkfarmer', freeSlots: 1 }]);
  }
  deploy(spec: VmSpec): Promise<VmHandle> {
    return Promise.resolve({ deploymentId: spec.deploymentId, node: spec.node, myceliumIp: '4a5::1', ref: {} });
  }
  pause(): Promise<void> {
    return Promise.resolve();
  }
  resume(): Promise<void> {
    return Promise.resolve();
  }
  destroy(): Promise<void> {
    return Promise.resolve();
  }
  status(): Promise<VmStatus> {
    return Promise.resolve('running');
  }
  setSshKeys(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The page's view of the Ledger port's balance (src/gateway/ledger/ledger.ts) over the real
 * ledger, held back until the test opens it: the lab's ledger is a network call away, and the
 * gateway hands orders over while the page waits for it.
 */
class HeldBalance {
  private open: () => void = () => undefined;
  private readonly opened = new Promise<void>((resolve) => (this.open = resolve));
  asked = 0;
  constructor(private readonly inner: Ledger) {}
  async balance(customer: string): Promise<Balance> {
    this.asked++;
    await this.opened;
    return this.inner.balance(customer);
  }
  release(): void {
    this.open();
  }
}

test('an order handed over while the page waits for the balance is not shown active without its deployment', async () => {
  const scratch = scratchDir();
  const clock = new FakeClock();
  const ledger = EmbeddedLedger.open(join(scratch.dir, 'ledger'), () => clock.nowMs());
  const { archive } = OrderArchive.open(join(scratch.dir, 'orders-archive.log'), 100);
  const orderTable = new FakeTable<OrderRecord>();
  const deploymentTable = new FakeTable<DeploymentRecord>();
  const events = new FakeEventSink();
  const provisioner = new FakeOneNodeProvisioner();
  const log = pino({ enabled: false });
  const orders = new OrderService({
    clock,
    store: { orders: orderTable, deployments: deploymentTable },
    archive,
    ledger,
    provisioner,
    events,
    log,
    policy: { depositMs: 24 * HOUR_MS, expireAfterMs: 30 * 60_000, maxProvisionAttempts: 3, maxOpenOrders: 5, maxPerWindow: 20, windowMs: 24 * HOUR_MS, maxSshKeyBytes: 16_384 },
    offer: (id) => (id === 'small' ? SMALL : undefined),
    offerIds: () => ['small'],
    arrearsOf: () => 0n,
    onActive: () => undefined,
  });
  const deployments = new DeploymentService({
    clock,
    deployments: deploymentTable,
    provisioner,
    events,
    log,
    totals: () => ({ upSeconds: 0, chargedMicros: 0n, arrearsMicros: 0n }),
    onPlacementChanged: () => undefined,
    maxSshKeyBytes: 16_384,
  });
  const held = new HeldBalance(ledger);
  const views = new CustomerViews({
    gatewayUrl: 'http://[4a0::1]:8080',
    clock,
    ledger,
    orders,
    deployments,
    escrow: { report: () => Promise.reject(new Error('not used by the live view')) },
    funds: { ledger: held, lowRunwayMs: 24 * HOUR_MS, depositMs: 24 * HOUR_MS, deployments: () => deploymentTable.values(), arrearsOf: () => 0n },
    receiptsOf: () => Promise.resolve([]),
    receiptView: () => Promise.reject(new Error('not used by the live view')),
  });
  try {
    const o = await orders.create('alice', { offer: 'small', sshKeys: [KEY], name: 'web' });
    assert.ok(ledger.fund !== undefined);
    await ledger.fund('alice', 10_000_000n, 'fund-1');

    // The page starts reading, and waits for the balance; meanwhile the order is paid and handed over.
    const reading = customerLiveView({ views, orders, deployments }, 'alice');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(held.asked, 1, 'the page is waiting for the balance');
    await orders.advance(o.id);
    assert.equal(orderTable.get(o.id)?.state, 'active', 'the order was handed over while the page waited');
    held.release();
    const live = await reading;

    const listed = new Set(live.deployments.map((d) => d.id));
    const [shown] = live.orders;
    assert.ok(shown);
    if (shown.deployment !== undefined) assert.ok(listed.has(shown.deployment.id), `the order shows ${shown.deployment.ssh ?? 'its deployment'} but the page lists ${JSON.stringify([...listed])}`);
    // One read: either both before the hand-over, or both after it.
    assert.equal(shown.deployment !== undefined, listed.size === 1, `order ${shown.state}, ${listed.size} deployment(s) listed`);

    // The next read (the in-place refresh a moment later) shows both.
    const after = await customerLiveView({ views, orders, deployments }, 'alice');
    assert.equal(after.orders[0]?.state, 'active');
    assert.equal(after.orders[0]?.deployment?.id, after.deployments[0]?.id);
  } finally {
    await orders.close();
    archive.close();
    await ledger.close();
    scratch.remove();
  }
});
