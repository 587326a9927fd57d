// The admin views' types, declared once: admin-views.ts builds them, /admin/api answers them as JSON, and the status page renders them.
import type { DeploymentView } from '../deployments/deployment-service.js';
import type { EventName } from '../events/event-catalogue.js';

/** A timeline row, as `eventView` and the views' timelines give it (the API and the status page). */
export interface EventRow {
  readonly at: string | null;
  readonly event: EventName;
  readonly detail: string;
  readonly deployment?: string;
  readonly customer?: string;
  readonly agent?: string;
}

/** One billed period's totals, as `overview().revenue.periods` gives them. */
export interface PeriodRow {
  readonly periodStart: string | null;
  readonly charged: string;
  readonly farmerShares: string;
  readonly paidOut: string;
  readonly arrears: string;
  readonly receipts: number;
}

/** The shape of `overview()` (docs/api.md, GET /admin/api/overview). */
export interface OverviewView {
  readonly at: string | null;
  readonly nodes: { readonly up: number; readonly down: number; readonly list: readonly { readonly id: string; readonly farmer: string; readonly up: boolean; readonly connected: boolean }[] };
  readonly agents: {
    readonly connected: number;
    readonly pending: number;
    readonly list: readonly { readonly agent: string; readonly nodes: readonly string[]; readonly address: string; readonly lastHeartbeatAgeSeconds: number | null }[];
  };
  readonly deployments: { readonly provisioning: number; readonly active: number; readonly grace: number; readonly deprovisioned: number };
  readonly orders: Readonly<Record<string, number>>;
  readonly customers: { readonly total: number; readonly lowFunds: number; readonly inGrace: number; readonly outOfFunds: number };
  readonly grace: readonly { readonly deployment: string; readonly customer: string; readonly graceSince: string | null; readonly graceUntil: string | null; readonly arrears: string }[];
  readonly outOfFunds: readonly { readonly deployment: string; readonly customer: string; readonly endedAt: string | null }[];
  readonly billing: {
    readonly lastRunAt: string | null;
    readonly lastPeriodEnd: string | null;
    readonly errors: number;
    readonly lastError: string | null;
    readonly ledgerDown: string | null;
    readonly recentErrors: readonly EventRow[];
  };
  readonly revenue: { readonly unit: string; readonly total: string; readonly arrears: string; readonly periods: readonly PeriodRow[] };
  readonly payouts: { readonly unit: string; readonly total: string };
  readonly disagreements: {
    readonly chainMismatch: number;
    readonly chainGap: number;
    readonly chainHeadMismatch: number;
    readonly probe: number;
    readonly uptimeDisputed: number;
    readonly countersignRefused: number;
    readonly recent: readonly EventRow[];
  };
}

/** A deployment as `deploymentView` gives it (declared once, in deployment-service.ts), plus whether its VM answers now. */
export interface DeploymentSummary extends DeploymentView {
  readonly vmUp: boolean;
}

/** An order as the admin views summarise it. */
export interface OrderSummary {
  readonly id: string;
  readonly state: string;
  readonly offer: string;
  readonly deposit: string;
  readonly createdAt: string | null;
  readonly paidAt?: string | null;
  readonly deployment?: string;
  readonly failure?: string;
  readonly attempts: readonly { readonly node: string; readonly at: string | null; readonly error: string }[];
}

/** A receipt as the admin views summarise it. */
export interface ReceiptSummary {
  readonly id: string;
  readonly periodStart: string;
  readonly periodEnd: string;
  readonly upSeconds: number;
  readonly amount: string;
  readonly farmerShare: string;
  readonly state: string;
  readonly paidOut: boolean;
  readonly countersigned: boolean;
  readonly countersignRefused?: string;
  /** Both sides' up-seconds when the farmer disputed the period's uptime. */
  readonly dispute?: { readonly agentUpSeconds: number; readonly gatewayUpSeconds: number };
  /** A charge held by access escrow: held, released (billed) or returned (never billed). */
  readonly escrow?: 'held' | 'released' | 'returned';
  readonly final?: boolean;
}

/** The shape of `deploymentDetail()`. */
export interface DeploymentDetailView {
  readonly deployment: DeploymentSummary & { readonly customer: string; readonly farmer: string; readonly order: string; readonly destroyed: boolean };
  readonly order: OrderSummary | null;
  readonly receipts: readonly ReceiptSummary[];
  /** How many receipts the deployment has (the list shows the newest only). */
  readonly receiptsTotal: number;
  readonly timeline: readonly EventRow[];
}

/** The shape of `customerDetail()`. */
export interface CustomerDetailView {
  readonly customer: {
    readonly agent: string;
    readonly available?: string;
    readonly error?: string;
    readonly unit: string;
    readonly arrears: string;
    readonly lowFunds: boolean;
    readonly links: readonly { readonly subnet: string; readonly address: string; readonly linkedAt: string | null }[];
  };
  readonly deployments: readonly DeploymentSummary[];
  readonly orders: readonly OrderSummary[];
  readonly timeline: readonly EventRow[];
}

/** A row of the overview's deployment directory. */
export interface DeploymentListRow {
  readonly id: string;
  readonly state: string;
  readonly customer: string;
  readonly node: string;
  readonly createdAt: string;
}

/** What the node view shows: the node as the overview lists it, its agent, its deployments and events. */
export interface NodePageView {
  readonly node: OverviewView['nodes']['list'][number];
  readonly agent: OverviewView['agents']['list'][number] | null;
  readonly deployments: readonly DeploymentListRow[];
  readonly timeline: readonly EventRow[];
}

