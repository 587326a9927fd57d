// A close's receipts, byte for byte: the hashes, ids and tree root a small close stores are pinned (taken from the code before bodies were written straight into the close's buffer), and each stored body is its canonical JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { BillingService } from '../../src/gateway/billing/billing-service.js';
import { ReceiptLog } from '../../src/gateway/billing/receipt-log.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';
import { UptimeBook } from '../../src/gateway/uptime/uptime-book.js';
import { blake2b, canonicalJson, sign, toHex } from '../../src/identity/index.js';
import { receiptBody, type ReceiptAgentHead, type ReceiptBodyV2, type ReceiptV2 } from '../../src/protocol/receipt.js';
import { TEST_POLICY } from '../helpers/billing-service.js';
import { deploymentRecord } from '../helpers/deployment-record.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { FakeMoneyStore } from '../helpers/fake-money-store.js';
import { FakeTable } from '../helpers/fake-table.js';
import { actors, HOUR, T0 } from '../helpers/receipts.js';

/** A fixed gateway id (the receipts name it; the tree head's signature, by a per-run key, is not pinned). */
const GATEWAY = 'uhCAkpinnedgatewayagentidforthebytestest0000000000000';
/** A fixed agent head (a farmer's chain head) that the first two receipts carry. */
const HEAD: ReceiptAgentHead = { periodStartMs: T0, periodEndMs: T0 + HOUR, seq: 240, head: 'ab'.repeat(32), signature: 'c2lnbmF0dXJl' };

/** Closes [T0, T0 + HOUR) for four deployments (one down half the hour, one with a non-ASCII node name, one with a quote in its offer), twice chained; answers the stored bodies by period. */
async function closeTwice(): Promise<{ bodies: ReceiptBodyV2[][]; hashes: string[][]; roots: string[] }> {
  const { receipts } = await ReceiptLog.over(new FakeMoneyStore().opener());
  const table = new FakeTable<DeploymentRecord>();
  const uptime = new UptimeBook(HOUR / 4, HOUR);
  const overs: Array<Partial<DeploymentRecord>> = [{}, { node: 'nœud-2 ☃', farmer: 'uhCAkfarmer2' }, { offer: 'large "x"', pricePerHour: '0.400000' }, { customer: 'uhCAkcustomer\u{1F600}' }];
  for (const [i, over] of overs.entries()) {
    const id = `dep_${i}`;
    await table.put(id, deploymentRecord(id, over, T0));
    for (let k = 0; k <= 8; k++) uptime.record(`vm:${id}`, { atMs: T0 + (k * HOUR) / 4, up: !(i === 0 && k === 2) });
  }
  const clock = new FakeClock(T0 + HOUR + 60_000);
  const billing = new BillingService({
    clock,
    gateway: { agent: GATEWAY, sign: (m) => sign(actors.gateway.secretKey, m) },
    receipts,
    deployments: table,
    uptime,
    ledger: { kind: 'embedded', balance: () => Promise.resolve({ unit: 'SPORE', availableMicros: 0n }), postBillingEvent: () => Promise.reject(new Error('not here')), payFarmer: () => Promise.reject(new Error('not here')), close: () => Promise.resolve() },
    lifecycle: { setPaused: () => Promise.resolve(false), end: (d) => Promise.resolve(d) },
    agents: { agentHead: (agent) => (agent === 'uhCAkfarmer' ? HEAD : null), requestCountersign: () => undefined, verifyCountersignature: () => false, requestBatchCountersign: () => undefined },
    events: new FakeEventSink(),
    log: pino({ level: 'silent' }),
    policy: TEST_POLICY,
  });
  // The closes alone: settling is not what is pinned here.
  (billing as unknown as { settle: () => Promise<void> }).settle = () => Promise.resolve();
  const bodies: ReceiptBodyV2[][] = [];
  const hashes: string[][] = [];
  const roots: string[] = [];
  for (const start of [T0, T0 + HOUR]) {
    clock.set(start + HOUR + 60_000);
    await billing.closePeriod(start, start + HOUR);
    const period: ReceiptBodyV2[] = [];
    const periodHashes: string[] = [];
    for (let i = 0; i < overs.length; i++) {
      const entry = (await receipts.of(`dep_${i}`)).find((e) => e.periodStartMs === start);
      assert.ok(entry, `dep_${i} has a receipt for ${start}`);
      const served = (await receipts.present(entry)) as ReceiptV2;
      period.push(receiptBody<ReceiptBodyV2>(served));
      periodHashes.push(entry.hash);
    }
    bodies.push(period);
    hashes.push(periodHashes);
    roots.push((receipts.treeHead(start) as { root: string }).root);
  }
  return { bodies, hashes, roots };
}

test('a close stores each body as its canonical JSON under its blake2b-256, and the ids, hashes and roots are the pinned ones', async () => {
  const { bodies, hashes, roots } = await closeTwice();
  bodies.forEach((period, p) => period.forEach((b, i) => assert.equal(hashes[p]?.[i], toHex(blake2b(Buffer.from(canonicalJson(b), 'utf8'), 32)), `period ${p} receipt ${i}`)));
  assert.deepEqual(bodies.map((period) => period.map((b) => b.id)), PINNED.ids);
  assert.deepEqual(hashes, PINNED.hashes);
  assert.deepEqual(roots, PINNED.roots);
  // The second period chains to the first.
  assert.deepEqual(bodies[1]?.map((b) => b.prev), hashes[0]);
});

/** Taken from the code at 04ed5d0 (each body written as one string, then encoded into the close's buffer): the bytes must not change. */
const PINNED = {
  ids: [
    ['rcp_24a2730f38a20a9a02eb40f7', 'rcp_cf60bf22a1158686427770d9', 'rcp_dd498bfa600de6aff149d9e4', 'rcp_2026f17dc0de606ecad0114d'],
    ['rcp_eb0566ac047770a2efd6cf20', 'rcp_2ec060a541c9335fec8aef1b', 'rcp_f11f6f67dc53a33407e3b5c7', 'rcp_51d802bc31f6c9891deb3f78'],
  ],
  hashes: [
    ['2c0030f5ebeaaddd9334f585bbbd57b5db1446294a4dba3d4b719ae4b2f51575', '687c510b4589ea729d51aada29e94532597e877f1b127162b5bdcb07e5cb1444', 'c9f1a59a025613ca4ce17809fda055d990b88cf378c2d3f77dc907386de7d5cd', '0ad1b594897b5a608431c5f5b72408d910ed5c980321f41550ef19263a3b96c9'],
    ['e6ac7a94f432cc21192857ea1c3db0d38ee0ea37a059cc9ca65eeb78e5b81488', '5fdf4fb05a984fefd42aa14f04678a7379a318d6dda859223e95a63b29e3977f', 'e4a0e2fb07842dcab37bf6f1e84587f4872ed74f59f1d66bb1b33d6a28828022', 'ec8fe9833d289ef0d6a18c3a99b98ab867569c305687a66bfb732e2abbd7b8c5'],
  ],
  roots: ['52d2f95634498b52516c4b546a5c10d92788a4109d1dc08fc90654ed00f1d77f', '822359d16baf9c82b528e67d6c2fd75099dacc8a177813536cac0d8f373397ae'],
};
