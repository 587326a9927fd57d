// A deployment's receipt body for one period: the pure rule of what is billed (span, up-seconds, charge and shares).
import { computeCharge } from '../../protocol/charge.js';
import { RECEIPT_V2_PURPOSE, receiptId, type ReceiptAgentHead, type ReceiptBodyV2 } from '../../protocol/receipt.js';
import type { DeploymentRecord } from '../store/records.js';
import { billableUptime } from '../uptime/disputed-uptime.js';
import { amountOf, amountText } from './amount-cache.js';

/** What a receipt body needs besides the deployment and the period. */
export interface ReceiptInputs {
  /** The VM's up-seconds within [fromMs, toMs) from the evidence. */
  upSeconds(fromMs: number, toMs: number): number;
  /** The gateway's own probes' up-seconds for the VM within [fromMs, toMs), or null when it has none. */
  gatewayUpSeconds?(fromMs: number, toMs: number): number | null;
  /** Whether the probes disagreed with the agent within [fromMs, toMs). */
  disputed?(fromMs: number, toMs: number): boolean;
  /** The hash of the deployment's previous receipt, or null for its first. */
  readonly prev: string | null;
  readonly agentHead: ReceiptAgentHead | null;
  readonly gateway: string;
  readonly issuedAt: string;
  readonly farmerShareBps: number;
}

/**
 * A deployment's receipt body for the period [startMs, endMs), or null when it was not
 * billable in it (not yet handed over, or ended before). Billing covers only the part of the
 * period the deployment existed in, and never more up-seconds than that part has.
 */
export function receiptBodyFor(d: DeploymentRecord, startMs: number, endMs: number, inputs: ReceiptInputs): ReceiptBodyV2 | null {
  if (d.activatedAtMs === undefined) return null;
  const fromMs = Math.max(startMs, d.activatedAtMs);
  const toMs = Math.min(endMs, d.endedAtMs ?? endMs);
  if (toMs <= fromMs) return null;
  const spanSeconds = Math.floor((toMs - fromMs) / 1000);
  const disputed = inputs.disputed?.(fromMs, toMs) ?? false;
  const billed = billableUptime({
    agentUpSeconds: Math.min(inputs.upSeconds(fromMs, toMs), spanSeconds),
    gatewayUpSeconds: disputed ? Math.min(inputs.gatewayUpSeconds?.(fromMs, toMs) ?? spanSeconds, spanSeconds) : null,
    disputed,
  });
  const upSeconds = billed.upSeconds;
  const charge = computeCharge(amountOf('pricePerHour', d.pricePerHour), upSeconds, inputs.farmerShareBps);
  return {
    v: 2,
    purpose: RECEIPT_V2_PURPOSE,
    id: receiptId(d.id, startMs),
    deployment: d.id,
    customer: d.customer,
    farmer: d.farmer,
    node: d.node,
    offer: d.offer,
    periodStart: isoOf(fromMs),
    periodEnd: isoOf(toMs),
    upSeconds,
    pricePerHour: d.pricePerHour,
    amount: amountText(charge.amountMicros),
    farmerShare: amountText(charge.farmerShareMicros),
    fee: amountText(charge.feeMicros),
    unit: d.unit,
    prev: inputs.prev,
    gateway: inputs.gateway,
    issuedAt: inputs.issuedAt,
    final: d.endedAtMs !== undefined && d.endedAtMs <= endMs,
    agentHead: inputs.agentHead,
    ...(billed.dispute ? { dispute: billed.dispute } : {}),
    // Access not verified yet (gateway/escrow/): the charge is held, billed only once released.
    ...(d.access !== undefined && d.access.state !== 'verified' ? { held: true as const } : {}),
  };
}

/** The last two instants written as ISO text (a period's receipts mostly share its start and end). */
const isoKept: Array<{ ms: number; iso: string }> = [];

function isoOf(ms: number): string {
  for (const k of isoKept) if (k.ms === ms) return k.iso;
  const iso = new Date(ms).toISOString();
  isoKept.unshift({ ms, iso });
  if (isoKept.length > 2) isoKept.pop();
  return iso;
}
