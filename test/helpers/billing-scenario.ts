// What the billing lab tests read back: a customer's receipts and deployment, the embedded ledger's journal, full periods billed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ReceiptV2 } from '../../src/protocol/receipt.js';
import { hypha } from './run.js';
import { waitFor, type TestLab } from './lab.js';

/** A deployment as its customer sees it (`GET /v1/deployments/{id}`), the fields the billing tests read. */
export interface DeploymentView {
  state: string;
  graceUntil?: string;
  arrears: string;
  endReason?: string;
  ssh?: string;
  toPay?: { pay: string; arrears: string; by?: string; advice: string; keepUp: { hours: number; amount: string } };
}

/** A deployment's receipts, as its customer gets them (the gateway serves v2). */
export async function receiptsOf(lab: TestLab, actor: string, deployment: string): Promise<ReceiptV2[]> {
  return ((await lab.curl(actor, 'GET', `/v1/receipts?deployment=${deployment}`)).json as { receipts: ReceiptV2[] }).receipts;
}

/** A deployment, as its customer gets it. */
export async function deploymentOf(lab: TestLab, actor: string, id: string): Promise<DeploymentView> {
  return ((await lab.curl(actor, 'GET', `/v1/deployments/${id}`)).json as { deployment: DeploymentView }).deployment;
}

/** The embedded ledger's entries of one type, read from its journal with `hypha ledger entries`. */
export async function ledgerEntries(lab: TestLab, type: string): Promise<Array<Record<string, unknown>>> {
  const r = await hypha(['ledger', 'entries', '--dir', join(lab.dir, 'ledger', 'data'), '--type', type]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Waits until `periods` whole hours of a lab `small` VM (0.05 an hour, 90% to the farmer) are billed,
 * checks each full period's money, and resolves to all its receipts.
 */
export async function fullPeriodsBilled(lab: TestLab, actor: string, deployment: string, periods: number): Promise<ReceiptV2[]> {
  const receipts = await waitFor(`${periods} full periods billed`, async () => {
    const r = await receiptsOf(lab, actor, deployment);
    return r.filter((x) => x.upSeconds === 3600).length >= periods ? r : undefined;
  });
  for (const r of receipts.filter((x) => x.upSeconds === 3600)) {
    assert.equal(r.amount, '0.050000');
    assert.equal(r.farmerShare, '0.045000');
    assert.equal(r.fee, '0.005000');
  }
  return receipts;
}
