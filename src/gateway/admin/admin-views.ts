// The numbers and timelines admins see (JSON for /admin/api, and the data the status page renders).
import { formatAmount, UNIT } from '../../protocol/money.js';
import type { RequestRow } from '../market/requests-table.js';
import type { AgentView, NodeView } from '../agents/agent-hub.js';
import type { TimelineEvent } from '../events/event-log.js';
import type { CustomerDetailView, DeploymentDetailView, EventRow, OrderSummary, OverviewView, ReceiptSummary } from './admin-view-types.js';
import type { PeriodTotals, ReceiptEntry } from '../billing/receipt-types.js';
import type { DeploymentTotals } from '../deployments/deployment-service.js';
import { deploymentView } from '../deployments/deployment-service.js';
import { orderStateOf } from '../orders/order-service.js';
import type { AgentApproval, DeploymentRecord, LinkRecord, OrderRecord } from '../store/records.js';

/** Everything the admin views read; each piece is a narrow, read-only view of a service. */
export interface AdminSources {
  nowMs(): number;
  /** The newest capacity requests with their bids (the market), newest first. */
  requests?(): readonly RequestRow[];
  nodes(): NodeView[];
  agents(): AgentView[];
  approvals(): AgentApproval[];
  deployments(): DeploymentRecord[];
  orders(): OrderRecord[];
  links(): LinkRecord[];
  totals(deploymentId: string): DeploymentTotals;
  /** A deployment's receipts, oldest first (read back from receipts.log). */
  receipts(deploymentId: string): Promise<readonly ReceiptEntry[]>;
  periodTotals(): Array<[number, PeriodTotals]>;
  /** Money-log checkpoints that could not be written since start (a start then replays more of the log); absent where there is no money log. */
  moneyCheckpointFailures?(): number;
  arrearsOf(customer: string): bigint;
  /** Customers whose last known runway is under the low-funds threshold (or who are in arrears): the rule of /v1/balance. */
  lowFunds(): ReadonlySet<string>;
  /** Re-reads the balances behind lowFunds (at most once a second), so the page agrees with /v1/balance. */
  refreshFunds?(): Promise<void>;
  /** Whether an AgentPubKey is an admin (listed, or linked from an admin /64): a linked admin is not counted as a customer until they order. */
  isAdmin?(agent: string): boolean;
  billing(): { lastRunAtMs: number | null; lastError: string | null; ledgerDown: string | null; closedThroughMs: number };
  eventsAbout(kind: 'deployment' | 'order' | 'customer' | 'agent' | 'node', id: string): TimelineEvent[];
  recentEvents(prefix: string, n: number): TimelineEvent[];
  countEvents(prefix: string): number;
  isVmUp(deploymentId: string): boolean;
}

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** GET /admin/api/overview. */
export function overview(s: AdminSources): OverviewView {
  const now = s.nowMs();
  const nodes = s.nodes();
  const deployments = s.deployments();
  const deploymentById = new Map(deployments.map((d) => [d.id, d]));
  const byState = { provisioning: 0, active: 0, grace: 0, deprovisioned: 0 };
  for (const d of deployments) byState[d.state]++;
  byState.provisioning += s.orders().filter((o) => o.state === 'provisioning' || o.state === 'paid').length;
  // A linked admin is not a customer until they order something.
  const customers = new Set<string>([...s.links().map((l) => l.agent).filter((a) => !(s.isAdmin?.(a) ?? false)), ...s.orders().map((o) => o.customer)]);
  const inGrace = new Set(deployments.filter((d) => d.state === 'grace').map((d) => d.customer));
  const periods = s.periodTotals();
  let revenue = 0n;
  let payouts = 0n;
  let arrears = 0n;
  for (const [, p] of periods) {
    revenue += p.chargedMicros;
    payouts += p.paidOutMicros;
    arrears += p.arrearsMicros;
  }
  const billing = s.billing();
  const outOfFunds = deployments.filter((d) => d.endReason === 'out_of_funds');
  return {
    at: iso(now),
    nodes: { up: nodes.filter((n) => n.up).length, down: nodes.filter((n) => !n.up).length, list: nodes.map((n) => ({ id: n.id, farmer: n.farmer, up: n.up, connected: n.connected })) },
    agents: {
      connected: s.agents().length,
      pending: s.approvals().filter((a) => a.state === 'pending').length,
      list: s.agents().map((a) => ({ agent: a.agent, nodes: a.nodes.map((n) => n.id), address: a.address, lastHeartbeatAgeSeconds: a.lastHeartbeatAtMs === undefined ? null : Math.max(0, Math.round((now - a.lastHeartbeatAtMs) / 1000)) })),
    },
    deployments: byState,
    orders: countBy(s.orders().map((o) => orderStateOf(o, o.deployment !== undefined ? deploymentById.get(o.deployment) : undefined))),
    customers: {
      total: customers.size,
      lowFunds: s.lowFunds().size,
      inGrace: inGrace.size,
      outOfFunds: new Set(outOfFunds.map((d) => d.customer)).size,
    },
    grace: deployments
      .filter((d) => d.state === 'grace')
      .map((d) => ({ deployment: d.id, customer: d.customer, graceSince: iso(d.graceSinceMs), graceUntil: iso(d.graceUntilMs), arrears: formatAmount(s.totals(d.id).arrearsMicros) })),
    outOfFunds: outOfFunds.map((d) => ({ deployment: d.id, customer: d.customer, endedAt: iso(d.endedAtMs) })),
    billing: {
      lastRunAt: iso(billing.lastRunAtMs),
      lastPeriodEnd: iso(billing.closedThroughMs),
      errors: s.countEvents('billing.error'),
      lastError: billing.lastError,
      ledgerDown: billing.ledgerDown,
      recentErrors: s.recentEvents('billing.error', 5).map(eventView),
    },
    revenue: {
      unit: UNIT,
      total: formatAmount(revenue),
      arrears: formatAmount(arrears),
      periods: periods.slice(-24).map(([start, p]) => ({
        periodStart: iso(start),
        charged: formatAmount(p.chargedMicros),
        farmerShares: formatAmount(p.farmerSharesMicros),
        paidOut: formatAmount(p.paidOutMicros),
        arrears: formatAmount(p.arrearsMicros),
        receipts: p.receipts,
      })),
    },
    payouts: { unit: UNIT, total: formatAmount(payouts) },
    disagreements: {
      chainMismatch: s.countEvents('agent.chain_mismatch'),
      chainGap: s.countEvents('agent.chain_gap'),
      chainHeadMismatch: s.countEvents('agent.chain_head_mismatch'),
      probe: s.countEvents('agent.probe_disagreement'),
      uptimeDisputed: s.countEvents('billing.uptime_disputed'),
      countersignRefused: s.countEvents('receipt.countersign_refused'),
      recent: [...s.recentEvents('agent.chain', 5), ...s.recentEvents('receipt.countersign_refused', 5), ...s.recentEvents('agent.probe', 5), ...s.recentEvents('billing.uptime_disputed', 5)].sort((a, b) => b.atMs - a.atMs).slice(0, 10).map(eventView),
    },
  };
}

/** GET /admin/api/deployments/{id}: the deployment, its order, receipts and timeline. */
export async function deploymentDetail(s: AdminSources, d: DeploymentRecord): Promise<DeploymentDetailView> {
  const order = s.orders().find((o) => o.id === d.order);
  const receipts = await s.receipts(d.id);
  const timeline = mergeTimeline([...s.eventsAbout('deployment', d.id), ...(order ? s.eventsAbout('order', order.id) : [])], receipts);
  return {
    deployment: { ...deploymentView(d, s.totals(d.id)), customer: d.customer, farmer: d.farmer, order: d.order, vmUp: s.isVmUp(d.id), destroyed: d.destroyed ?? false },
    order: order ? orderSummary(order, d) : null,
    receipts: newest(receipts, DETAIL_LIST_LIMIT).map(receiptSummary),
    receiptsTotal: receipts.length,
    timeline: newest(timeline, DETAIL_LIST_LIMIT),
  };
}

/** GET /admin/api/customers/{agent}: balance (when the ledger answers), links, deployments and timeline. */
export async function customerDetail(s: AdminSources, agent: string, balance: { available: string } | { error: string }): Promise<CustomerDetailView> {
  const deployments = s.deployments().filter((d) => d.customer === agent);
  const receipts: ReceiptEntry[] = [];
  for (const d of deployments) receipts.push(...(await s.receipts(d.id)));
  return {
    customer: {
      agent,
      ...balance,
      unit: UNIT,
      arrears: formatAmount(s.arrearsOf(agent)),
      lowFunds: s.lowFunds().has(agent),
      links: s.links().filter((l) => l.agent === agent).map((l) => ({ subnet: l.subnet, address: l.address, linkedAt: iso(l.linkedAtMs) })),
    },
    deployments: newest(deployments, DETAIL_LIST_LIMIT).map((d) => ({ ...deploymentView(d, s.totals(d.id)), vmUp: s.isVmUp(d.id) })),
    orders: newest(s.orders().filter((o) => o.customer === agent), DETAIL_LIST_LIMIT).map((o) => orderSummary(o, deployments.find((d) => d.id === o.deployment))),
    timeline: newest(mergeTimeline(s.eventsAbout('customer', agent), receipts), DETAIL_LIST_LIMIT),
  };
}

/**
 * The most rows a detail view lists of one kind (receipts, orders, deployments, timeline): a
 * deployment gains a receipt every period and a customer can keep ordering, so each list keeps
 * its newest rows; the page and the JSON say how many there are in all where it matters.
 */
export const DETAIL_LIST_LIMIT = 1000;

/** The last `n` of a list kept oldest first. */
function newest<T>(list: readonly T[], n: number): T[] {
  return list.length <= n ? [...list] : list.slice(list.length - n);
}

/** An event as the API shows it. */
export function eventView(e: TimelineEvent): EventRow {
  return { at: iso(e.atMs), event: e.event, detail: e.detail, ...(e.deployment ? { deployment: e.deployment } : {}), ...(e.customer ? { customer: e.customer } : {}), ...(e.agent ? { agent: e.agent } : {}) };
}

function mergeTimeline(events: TimelineEvent[], receipts: readonly ReceiptEntry[]): EventRow[] {
  const seen = new Set<TimelineEvent>();
  const rows: Array<{ atMs: number; row: EventRow }> = [];
  for (const e of events) {
    if (seen.has(e)) continue;
    seen.add(e);
    rows.push({ atMs: e.atMs, row: eventView(e) });
  }
  for (const r of receipts) {
    const at = Date.parse(r.receipt.issuedAt);
    const state = r.state === 'paid' ? (r.amountMicros === 0n ? 'nothing to charge' : 'paid') : r.state === 'arrears' ? 'refused for lack of funds (arrears)' : 'not yet billed';
    rows.push({
      atMs: at,
      row: {
        at: r.receipt.issuedAt,
        event: 'receipt.issued',
        detail: `receipt ${r.receipt.id} for ${r.receipt.periodStart} to ${r.receipt.periodEnd}: up ${r.receipt.upSeconds} s, ${r.receipt.amount} ${r.receipt.unit}; ${state}${r.paidOut ? `; farmer paid ${r.receipt.farmerShare}` : ''}`,
        deployment: r.receipt.deployment,
      },
    });
  }
  return rows.sort((a, b) => a.atMs - b.atMs).map((r) => r.row);
}

function orderSummary(o: OrderRecord, deployment?: DeploymentRecord): OrderSummary {
  return {
    id: o.id,
    state: orderStateOf(o, deployment),
    offer: o.offer,
    deposit: o.deposit,
    createdAt: iso(o.createdAtMs),
    ...(o.paidAtMs !== undefined ? { paidAt: iso(o.paidAtMs) } : {}),
    ...(o.deployment ? { deployment: o.deployment } : {}),
    ...(o.failure ? { failure: o.failure } : {}),
    attempts: o.attempts.map((a) => ({ node: a.node, at: iso(a.atMs), error: a.error })),
  };
}

function receiptSummary(r: ReceiptEntry): ReceiptSummary {
  return {
    id: r.receipt.id,
    periodStart: r.receipt.periodStart,
    periodEnd: r.receipt.periodEnd,
    upSeconds: r.receipt.upSeconds,
    amount: r.receipt.amount,
    farmerShare: r.receipt.farmerShare,
    state: r.state,
    paidOut: r.paidOut,
    countersigned: r.farmerSignature !== undefined || r.farmerBatchIndex !== undefined,
    ...(r.countersignRefused ? { countersignRefused: r.countersignRefused } : {}),
    ...(r.receipt.dispute ? { dispute: r.receipt.dispute } : {}),
    ...(r.escrow ? { escrow: r.escrow.state } : {}),
    final: r.receipt.final,
  };
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
