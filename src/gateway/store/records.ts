// The records the gateway stores: plain JSON (times in ms, amounts as decimal strings, never floats).
import type { SignedBid } from '../../protocol/bid.js';
import type { HeldBid } from '../market/bid-ranking.js';
import type { RequestRecord } from '../market/market-service.js';

/** A /64 linked to a Unyt identity, with the signed statement kept as evidence. */
export interface LinkRecord {
  readonly subnet: string;
  readonly agent: string;
  /** The exact source address the link was made from. */
  readonly address: string;
  readonly linkedAtMs: number;
  readonly nonce: string;
  readonly statement: string;
  /** base64 ed25519 signature of the statement by the agent's key. */
  readonly signature: string;
}

/** A farmer agent's standing: which nodes it may speak for, from which /64s. */
export interface AgentApproval {
  readonly agent: string;
  readonly state: 'approved' | 'pending' | 'revoked';
  /** Where the approval comes from: the gateway's config, or an admin's decision. */
  readonly source: 'config' | 'admin' | 'request';
  readonly subnets: readonly string[];
  readonly nodes: readonly string[];
  readonly requestedAtMs?: number;
  readonly decidedAtMs?: number;
  readonly decidedBy?: string;
}

/** Order states (docs/api.md). */
export type OrderState = 'awaiting_payment' | 'paid' | 'provisioning' | 'active' | 'failed' | 'expired';

/** One sealed secret of an order: its name, and a box sealed to each node that may run the order (gateway/orders/order-secrets.ts). */
export interface OrderSecret {
  readonly name: string;
  /** Node id → base64 crypto_box_seal box sealed to that node's farmer agent (GET /v1/nodes/{id} sealTo); the gateway cannot open it. */
  readonly sealed: Readonly<Record<string, string>>;
}

/** A customer's order for a VM. */
export interface OrderRecord {
  readonly id: string;
  readonly customer: string;
  readonly offer: string;
  readonly name: string;
  readonly sshKeys: readonly string[];
  readonly pricePerHour: string;
  readonly deposit: string;
  readonly unit: string;
  readonly state: OrderState;
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
  /** The /64 the order was placed from: the order caps count per /64 too, as a fresh key can be linked there at will. */
  readonly subnet?: string;
  readonly paidAtMs?: number;
  /** The deployment id, chosen when the order is paid (deploys are idempotent by it). */
  readonly deployment?: string;
  /** The node being deployed to, and its farmer, while provisioning. */
  readonly node?: string;
  readonly farmer?: string;
  readonly failure?: string;
  readonly attempts: readonly { readonly node: string; readonly atMs: number; readonly error: string }[];
  /** Sealed secrets for the VM; the order runs only on a node every one is sealed to. */
  readonly secrets?: readonly OrderSecret[];
  // ---- market and redeploy (issue 17) ----
  /** The farmer's signed bid the order was placed at: its price, size and node (absent for a catalog order). */
  readonly bid?: SignedBid;
  /** Deploy the VM again on another node if its node dies (opt-in: the disk is lost). */
  readonly redeploy?: boolean;
}

/** Deployment states (docs/api.md). */
export type DeploymentState = 'provisioning' | 'active' | 'grace' | 'deprovisioned';

/** Why a deployment ended. */
export type EndReason = 'cancelled' | 'out_of_funds' | 'failed' | 'admin' | 'no_access';

/**
 * Whether the customer got into the VM (access escrow, gateway/escrow/): `pending` from handover
 * until a login, a confirmation or the window; `failed` when a complaint ended it. Absent on
 * deployments handed over before escrow existed or with escrow off: they count as verified.
 */
export type AccessState = 'pending' | 'verified' | 'failed';

/** How access was settled: a login the agent saw, the customer's word, the window passing, or a complaint. */
export type AccessHow = 'login' | 'customer' | 'window' | 'complaint';

/** A deployment's access escrow: its state and the evidence that settled it. */
export interface AccessRecord {
  readonly state: AccessState;
  /** When the window ends (clock ms): silence with the VM up then releases the held charges. */
  readonly windowEndsAtMs: number;
  readonly settledAtMs?: number;
  readonly how?: AccessHow;
  /** The SHA256 fingerprint of the key the agent saw log in (OpenSSH form). */
  readonly loginKey?: string;
  /** The customer's own words when they reported no access (at most 500 characters). */
  readonly complaint?: string;
}

/** A VM sold to a customer, from provisioning to its end. */
export interface DeploymentRecord {
  readonly id: string;
  readonly order: string;
  readonly customer: string;
  readonly offer: string;
  readonly name: string;
  readonly pricePerHour: string;
  readonly unit: string;
  readonly sshKeys: readonly string[];
  readonly provisioner: 'agent' | 'grid';
  readonly node: string;
  readonly farmer: string;
  readonly myceliumIp: string;
  readonly vmRef: Readonly<Record<string, string>>;
  readonly state: DeploymentState;
  readonly createdAtMs: number;
  /** When the VM was handed over; billing starts here. */
  readonly activatedAtMs?: number;
  readonly graceSinceMs?: number;
  readonly graceUntilMs?: number;
  /** Whether the VM is paused (in grace, by default). */
  readonly paused?: boolean;
  readonly endedAtMs?: number;
  readonly endReason?: EndReason;
  /** The VM was destroyed (after endedAtMs the provisioner confirmed it). */
  readonly destroyed?: boolean;
  /** Access escrow (absent: verified, see AccessState). */
  readonly access?: AccessRecord;
  // ---- market and redeploy (issue 17) ----
  /** The farmer's signed bid the deployment is billed at (absent for a catalog offer). */
  readonly bid?: SignedBid;
  /** Deploy the VM again on another node if its node dies. */
  readonly redeploy?: boolean;
  /** The provisioner's id of the current VM when it is not the deployment id (after a redeploy). */
  readonly vmId?: string;
  /** When the current VM was placed (handover, or the last redeploy). */
  readonly placedAtMs?: number;
  /** VMs this deployment left on nodes that died, destroyed when the node answers again; newest last, at most MAX_PREVIOUS_VMS. */
  readonly previousVms?: readonly PreviousVm[];
  /** Times of redeploy attempts within the last day (older ones are dropped). */
  readonly redeployAttemptsMs?: readonly number[];
  /** Set while the day's redeploy attempts are used up: the deployment waits, with the time of the next attempt. */
  readonly redeployBlockedUntilMs?: number;
  /**
   * Set while the VM cannot be redeployed at all, with why: its order's sealed secrets are sealed to
   * no node but the dead one, and the gateway cannot re-seal them (it never sees them). Cleared when
   * the VM is up again.
   */
  readonly redeployRefused?: string;
}

/** Most earlier VMs a deployment keeps (the attempts per day bound how fast they come). */
export const MAX_PREVIOUS_VMS = 16;

/** A VM a deployment left behind on a node that died. */
export interface PreviousVm {
  readonly vmId: string;
  readonly node: string;
  readonly farmer: string;
  readonly myceliumIp: string;
  readonly vmRef: Readonly<Record<string, string>>;
  readonly movedAtMs: number;
  readonly destroyed: boolean;
}

/** An agent's heartbeat chain at its last durable point. */
export interface ChainState {
  readonly agent: string;
  /** The last heartbeat seq durably counted (0 before the first). */
  readonly seq: number;
  /** The chain head after `seq`. */
  readonly head: string;
}

/** Capacity request states (docs/api.md "Capacity requests"). */
export type CapacityRequestState = 'open' | 'accepted' | 'expired';

/**
 * A capacity request of the reverse market as stored, so a restart keeps the open ones and their
 * bids: the market's RequestRecord (gateway/market/market-service.ts) with the price as a decimal
 * string and the bids as a list, since JSON holds neither a bigint nor a Map. Derived from that one
 * declaration so a field added to the request is stored too. Bounded: a customer's open and recent
 * requests by the order caps, all of them by market.maxRequests, bids per request by 64.
 */
export type CapacityRequestRecord = Readonly<Omit<RequestRecord, 'maxPricePerHourMicros' | 'bids'>> & {
  /** The maximum price per hour, a decimal string (parsed back to micro-units). */
  readonly maxPricePerHour: string;
  /** The bids held, one per node, in the order they came. */
  readonly bids: readonly HeldBid[];
};
