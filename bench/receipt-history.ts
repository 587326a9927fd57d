// Receipt history for the benches: a money log filled with paid, paid-out v2 receipts as a running gateway leaves them.
import type { MoneyRecord, ReceiptLog } from '../src/gateway/billing/receipt-log.js';
import { receiptBodyFor } from '../src/gateway/billing/receipt-body.js';
import type { DeploymentRecord } from '../src/gateway/store/records.js';
import { MerkleTree } from '../src/protocol/merkle.js';
import { receiptLeafHash, receiptSigningBytes } from '../src/protocol/receipt.js';
import { signTreeHead, TREE_HEAD_PURPOSE, treeHeadHash } from '../src/protocol/tree-head.js';
import { blake2b, randomBytes, toBase64, toHex } from '../src/identity/index.js';

const HOUR = 3_600_000;

/**
 * Appends `count` paid, paid-out v2 receipts of `deployments` deployments billed hourly to `receipts`,
 * the way BillingService leaves them (close_begin, receipts, one tree head per period, then paid and
 * payout records): the same history whichever MoneyStore is under the log.
 */
export async function writeReceiptHistory(receipts: ReceiptLog, count: number, deployments: number, onPeriod: (done: number) => void = () => undefined): Promise<void> {
  const prev = new Map<string, string>();
  const gateway = `uhCAk${'g'.repeat(48)}`;
  let prevHead: string | null = null;
  for (let p = 0; p < count / deployments; p++) {
    const issued: MoneyRecord[] = [{ t: 'close_begin', periodStartMs: p * HOUR }];
    const leaves: Uint8Array[] = [];
    const settled: MoneyRecord[] = [];
    for (let i = 0; i < deployments; i++) {
      const d: DeploymentRecord = {
        id: `dep_${i.toString(16).padStart(16, '0')}`, order: `ord_${i}`, customer: `uhCAk${String(i % 200).padStart(48, 'c')}`, offer: 'small', name: `vm-${i}`,
        pricePerHour: '0.050000', unit: 'SPORE', sshKeys: [], provisioner: 'agent', node: `node-${i % 50}`, farmer: `uhCAk${String(i % 20).padStart(48, 'f')}`,
        myceliumIp: '4a1::ff0f:1', vmRef: {}, state: 'active', createdAtMs: 0, activatedAtMs: 0,
      };
      const startMs = p * HOUR;
      const agentHead = { periodStartMs: startMs, periodEndMs: startMs + HOUR, seq: 240 * (p + 1), head: toHex(randomBytes(32)), signature: toBase64(randomBytes(64)) };
      const body = receiptBodyFor(d, startMs, startMs + HOUR, { upSeconds: () => 3600, prev: prev.get(d.id) ?? null, agentHead, gateway, issuedAt: new Date(startMs + HOUR).toISOString(), farmerShareBps: 9000 });
      if (!body) throw new Error('bench: the deployment was not billable');
      const hash = toHex(blake2b(receiptSigningBytes(body), 32));
      prev.set(d.id, hash);
      leaves.push(receiptLeafHash(hash));
      issued.push({ t: 'receipt', receipt: body, periodStartMs: startMs, key: `hypha:${d.id}:${new Date(startMs).toISOString()}`, hash, index: i });
      settled.push({ t: 'paid', id: body.id, entryId: `ev-${p}-${i}`, atMs: startMs + HOUR });
      settled.push({ t: 'payout', id: body.id, farmer: d.farmer, amountMicros: '45000', entryId: `po-${p}-${i}`, atMs: startMs + HOUR });
    }
    const startMs = p * HOUR;
    const head = signTreeHead(
      { v: 1, purpose: TREE_HEAD_PURPOSE, gateway, periodStart: new Date(startMs).toISOString(), periodEnd: new Date(startMs + HOUR).toISOString(), size: deployments, root: toHex(MerkleTree.fromLeafHashes(leaves).root()), issuedAt: new Date(startMs + HOUR).toISOString(), prev: prevHead },
      () => randomBytes(64),
    );
    prevHead = treeHeadHash(head);
    issued.push({ t: 'tree_head', periodStartMs: startMs, head });
    await receipts.append(issued);
    await receipts.append(settled);
    onPeriod((p + 1) * deployments);
  }
}
