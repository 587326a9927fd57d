// What a linked customer sees, as typed view models: the JSON routes answer with them and the customer page renders them.
import { clockName } from '../../protocol/clock.js';
import { formatAmount, UNIT } from '../../protocol/money.js';
import type { AnyReceipt } from '../../protocol/receipt.js';
import { readPosition, type FundsPosition } from '../billing/funds.js';
import { fundsDueView, type FundsDueView } from '../billing/grace-due.js';
import type { DeploymentView } from '../deployments/deployment-service.js';
import { LedgerUnavailableError } from '../ledger/ledger.js';
import { orderStateOf, type OrderViewState } from '../orders/order-service.js';
import type { DeploymentRecord, OrderRecord } from '../store/records.js';
import type { TrustView } from '../trust/trust-service.js';
import type { CustomerDeps } from './customer-routes.js';
import { customerFailure } from './customer-routes.js';

/** An order as GET /v1/orders shows it. */
export interface OrderView {
  readonly id: string;
  readonly state: OrderViewState;
  readonly offer: string;
  readonly name: string;
  readonly pricePerHour: string;
  readonly deposit: string;
  readonly unit: string;
  readonly createdAt: string;
  readonly clock: string;
  /** While awaiting payment: when the order lapses unpaid. */
  readonly expiresAt?: string;
  readonly payment: {
    readonly unit: string;
    readonly deposit: string;
    /** The agreement to fund: the customer's AgentPubKey. */
    readonly agreement: string;
    readonly how: string;
    readonly lastCheck?: { readonly at: string; readonly status: string; readonly required: string; readonly available?: string };
  };
  readonly failure?: string;
  readonly attempts?: readonly { readonly node: string; readonly at: string; readonly error: string }[];
  readonly deployment?: DeploymentView;
  readonly deploymentId?: string;
}

/** GET /v1/balance. */
export interface BalanceView {
  readonly agent: string;
  readonly unit: string;
  readonly available: string;
  readonly arrears: string;
  /** Hours the agreement lasts at the current burn; absent when nothing runs or charges are unpaid. */
  readonly runwayHours?: number;
  readonly lowFunds: boolean;
  readonly inGrace: number;
  /** What to pay and by when, whenever charges are unpaid or a VM is in grace. */
  readonly toPay?: FundsDueView;
  /** The customer's trust tier: most VMs at once, deposit, and what raises it. */
  readonly trust?: TrustView;
}

/** GET /v1/receipts?deployment=. */
export interface ReceiptsView {
  readonly clock: string;
  readonly receipts: readonly AnyReceipt[];
}

/** Builds the customer's views from the gateway's services (one instance shared by the JSON routes and the page). */
export class CustomerViews {
  constructor(private readonly deps: CustomerDeps) {}

  /** The customer's funds, or null when the ledger cannot be reached (views then leave out what is due). */
  async position(customer: string): Promise<FundsPosition | null> {
    try {
      return await readPosition(this.deps.funds, customer);
    } catch (err) {
      if (err instanceof LedgerUnavailableError) return null;
      throw err;
    }
  }

  /** The balance view, or null when the ledger cannot be reached. */
  async balance(agent: string): Promise<BalanceView | null> {
    const position = await this.position(agent);
    if (!position) return null;
    const { due } = position;
    return {
      agent,
      unit: UNIT,
      available: formatAmount(position.availableMicros),
      arrears: formatAmount(position.arrearsMicros),
      ...position.runway,
      inGrace: due.inGrace.length,
      // A runway alone does not say what to pay and by when.
      ...(due.arrearsMicros > 0n || due.inGrace.length > 0 ? { toPay: fundsDueView(due, UNIT) } : {}),
      ...(this.deps.trust ? { trust: this.deps.trust.view(agent) } : {}),
    };
  }

  /** What a deployment in grace shows as `toPay`: only looked up when one of `list` is in grace. */
  async toPayFor(customer: string, list: readonly DeploymentRecord[]): Promise<FundsDueView | undefined> {
    if (!list.some((d) => d.state === 'grace')) return undefined;
    const position = await this.position(customer);
    return position ? fundsDueView(position.due, UNIT) : undefined;
  }

  /**
   * The deployment an order was handed over as, if it is active: from `read` when the caller read
   * the customer's deployments together with the order (the page's live part), else from the store.
   */
  deploymentOf(o: OrderRecord, read?: ReadonlyMap<string, DeploymentRecord>): DeploymentRecord | undefined {
    if (o.deployment === undefined || o.state !== 'active') return undefined;
    return read !== undefined ? read.get(o.deployment) : this.deps.deployments.get(o.customer, o.deployment);
  }

  deployment(d: DeploymentRecord, toPay?: FundsDueView): DeploymentView {
    return this.deps.deployments.view(d, toPay);
  }

  /** The order's view; `read` as for deploymentOf. */
  order(o: OrderRecord, toPay?: FundsDueView, read?: ReadonlyMap<string, DeploymentRecord>): OrderView {
    const deps = this.deps;
    const check = deps.orders.lastCheck(o.id);
    const deployment = this.deploymentOf(o, read);
    return {
      id: o.id,
      state: orderStateOf(o, deployment),
      offer: o.offer,
      name: o.name,
      pricePerHour: o.pricePerHour,
      deposit: o.deposit,
      unit: o.unit,
      createdAt: new Date(o.createdAtMs).toISOString(),
      clock: clockName(deps.clock),
      ...(o.state === 'awaiting_payment' ? { expiresAt: new Date(o.expiresAtMs).toISOString() } : {}),
      payment: {
        unit: o.unit,
        deposit: o.deposit,
        agreement: o.customer,
        how: `fund your Unyt agreement with at least ${o.deposit} ${o.unit} (plus the deposits of VMs you already run and any arrears); this order is handed over once the ledger shows it. In the lab: POST ${deps.gatewayUrl}/admin/api/ledger/fund as the admin.`,
        ...(check
          ? {
              lastCheck: {
                at: new Date(check.atMs).toISOString(),
                status: check.status,
                required: formatAmount(check.requiredMicros),
                ...(check.availableMicros !== undefined ? { available: formatAmount(check.availableMicros) } : {}),
              },
            }
          : {}),
      },
      ...customerFailure(o),
      ...(deployment ? { deployment: this.deployment(deployment, toPay) } : o.deployment !== undefined ? { deploymentId: o.deployment } : {}),
    };
  }

  /** The receipts of the customer's deployment `id`, oldest first (404 when it is not theirs). */
  async receipts(customer: string, id: string): Promise<AnyReceipt[]> {
    this.deps.deployments.get(customer, id);
    const out: AnyReceipt[] = [];
    for (const e of await this.deps.receiptsOf(id)) out.push(await this.deps.receiptView(e));
    return out;
  }
}
