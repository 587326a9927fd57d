// Every event name the gateway records on its timeline, one line each, with the severity that colours it on the pages.

/**
 * How an event reads on a timeline: `good` (money or a VM arrived where it should, shown green),
 * `info` (routine, no colour), `warn` (needs watching: low funds, grace, a paused VM) or `bad`
 * (something failed, was refused or disagrees with the evidence).
 */
export type Severity = 'good' | 'info' | 'warn' | 'bad';

/** The severities, mildest first. */
export const SEVERITIES: readonly Severity[] = ['good', 'info', 'warn', 'bad'];

/** What the catalogue says of one event. */
export interface EventEntry {
  readonly severity: Severity;
  /** When it is recorded, in words (for the reader of this file and of docs/). */
  readonly when: string;
  /**
   * Shown to the customer on their own deployment's page. Only events whose detail is the
   * customer's own business (their order, payment, VM, funds) say so; a farmer's evidence, an
   * admin's action or a node's failure stays on the admin page. Absent means admins only.
   */
  readonly customer?: true;
}

/**
 * The catalogue. To record a new event, add one line here: `TimelineEvent.event` only accepts
 * these names, so an event that is not listed fails to compile, and the timeline's colour of
 * every event that exists comes from this table.
 */
export const EVENT_CATALOGUE = {
  'agent.pending': { severity: 'info', when: 'an unknown agent asked to join and waits for an admin' },
  'agent.approved': { severity: 'info', when: 'an admin approved an agent for its nodes and /64s' },
  'agent.revoked': { severity: 'warn', when: 'an admin revoked an agent' },
  'agent.refused': { severity: 'warn', when: 'an agent connection was refused (bad hello, revoked, wrong /64 or nodes)' },
  'agent.connected': { severity: 'info', when: 'an approved agent connected' },
  'agent.disconnected': { severity: 'info', when: 'an agent disconnected' },
  'agent.bad_message': { severity: 'warn', when: 'an agent sent a message that does not parse' },
  'agent.bad_vm_address': { severity: 'bad', when: "a deployed VM's Mycelium address is not in the agent's /64s: refused, never handed out" },
  'agent.clock_skew': { severity: 'warn', when: 'a heartbeat was stamped in the future and not counted' },
  'agent.chain_mismatch': { severity: 'bad', when: 'a heartbeat was resent with other content, or names a head that is not ours' },
  'agent.chain_gap': { severity: 'bad', when: 'heartbeats of the chain never arrived' },
  'agent.chain_head_mismatch': { severity: 'bad', when: "an agent's signed chain head does not match the gateway's" },
  'agent.probe_disagreement': { severity: 'bad', when: "the agent's VM reachability disagrees with the gateway's probes twice running" },
  'order.created': { severity: 'info', when: 'a customer ordered a VM', customer: true },
  'order.payment_checked': { severity: 'info', when: "the agreement's balance did not cover the deposit yet", customer: true },
  'order.payment_unavailable': { severity: 'warn', when: 'the ledger could not be asked for the payment' },
  'order.paid': { severity: 'good', when: 'the agreement covers the deposit', customer: true },
  'order.expired': { severity: 'warn', when: 'the order was not paid in time', customer: true },
  'order.waiting_for_room': { severity: 'warn', when: 'the order is paid but no node has room for it right now; it is tried again for a while', customer: true },
  'order.provisioning': { severity: 'info', when: 'the VM is being deployed on a node', customer: true },
  'order.provision_failed': { severity: 'bad', when: 'one deploy attempt failed (another node may be tried)' },
  'order.active': { severity: 'info', when: 'the VM of the order runs', customer: true },
  'order.failed': { severity: 'bad', when: 'the order could not be fulfilled; nothing was charged', customer: true },
  'deployment.active': { severity: 'good', when: 'the VM was handed over to the customer', customer: true },
  'deployment.ssh_keys': { severity: 'info', when: 'the customer replaced the SSH keys', customer: true },
  'deployment.grace': { severity: 'warn', when: 'funds ran out: the deployment entered grace', customer: true },
  'deployment.paused': { severity: 'warn', when: 'the VM was paused (grace)', customer: true },
  'deployment.pause_failed': { severity: 'bad', when: 'the VM could not be paused' },
  'deployment.resumed': { severity: 'good', when: 'the VM was resumed after a pause', customer: true },
  'deployment.resume_failed': { severity: 'bad', when: 'the VM could not be resumed' },
  'deployment.active_again': { severity: 'good', when: 'arrears were paid and the deployment left grace', customer: true },
  'deployment.deprovisioned': { severity: 'bad', when: 'the deployment ended (cancelled, out of funds, node gone)', customer: true },
  'deployment.destroyed': { severity: 'info', when: 'the VM of an ended deployment was destroyed', customer: true },
  'billing.period_closed': { severity: 'info', when: 'a billing period was closed and its receipts issued' },
  'billing.uptime_disputed': { severity: 'warn', when: "the agent's and the probes' up-seconds differ; the smaller was billed" },
  'billing.arrears_settled': { severity: 'good', when: 'receipts in arrears were paid after funds arrived', customer: true },
  'billing.error': { severity: 'bad', when: 'closing a period failed or the ledger could not be reached' },
  'billing.payout_batch_refused': { severity: 'bad', when: "the ledger refused a farmer's batch payout: its receipts are paid out one by one" },
  'billing.ledger_back': { severity: 'good', when: 'the ledger answers again after an outage' },
  'receipt.issued': { severity: 'info', when: "a receipt was issued (shown on timelines from the receipt log, not recorded)" },
  'receipt.countersign_refused': { severity: 'bad', when: 'the farmer refused to countersign receipts' },
  'receipt.countersign_invalid': { severity: 'bad', when: "the farmer's countersignature does not verify" },
  'customer.low_funds': { severity: 'warn', when: "a customer's runway fell under the low-funds threshold", customer: true },
  'ledger.funded': { severity: 'info', when: "an admin funded a customer's agreement (embedded ledger)" },
  // Access escrow and trust tiers (src/gateway/escrow, src/gateway/trust).
  'deployment.access_verified': { severity: 'good', when: 'access was verified (a login the agent saw, the customer\'s word, or the window with the VM up)', customer: true },
  'deployment.access_failed': { severity: 'bad', when: 'the customer reported no access inside the window and no login was seen: the deployment ends (no_access)', customer: true },
  'billing.escrow_released': { severity: 'good', when: 'charges held by access escrow were released: billed, and the farmer paid as usual', customer: true },
  'billing.escrow_returned': { severity: 'warn', when: 'charges held by access escrow were returned: never billed, nothing to the farmer', customer: true },
  'customer.trust_tier_set': { severity: 'info', when: "an admin set (or cleared) a customer's trust tier by hand, with a reason" },
  // Capacity requests, bids and redeploys (src/gateway/market, src/gateway/redeploy).
  'market.request_created': { severity: 'info', when: 'a customer posted a capacity request; it went to the agents whose nodes can fit it', customer: true },
  'market.request_expired': { severity: 'warn', when: 'a capacity request expired without an accepted bid', customer: true },
  'market.bid_received': { severity: 'info', when: "a farmer's signed bid was taken for a request", customer: true },
  'market.bid_refused': { severity: 'warn', when: "a bid was refused (bad signature, wrong node, over the request's price, expired)" },
  'market.bid_accepted': { severity: 'good', when: "the customer accepted a bid: an order at the bid's price on the bid's node", customer: true },
  'deployment.redeployed': { severity: 'warn', when: "the VM's node was down past the threshold: the VM was deployed again on another node (new address, the disk is new)", customer: true },
  'deployment.redeploy_failed': { severity: 'bad', when: 'deploying the VM again on another node failed', customer: true },
  'deployment.redeploy_exhausted': { severity: 'bad', when: "the day's redeploy attempts are used up: the deployment waits", customer: true },
  'deployment.redeploy_refused': { severity: 'bad', when: "the VM's node died but its order's secrets are sealed to no other node, and the gateway cannot re-seal them: the deployment waits for its node", customer: true },
  'deployment.previous_vm_destroyed': { severity: 'info', when: 'the VM left on a node that died was destroyed once the node answered again' },
} as const satisfies Readonly<Record<string, EventEntry>>;

/** A name the gateway records: only these compile as `TimelineEvent.event`. */
export type EventName = keyof typeof EVENT_CATALOGUE;

/** Every catalogued name, in catalogue order. */
export const EVENT_NAMES = Object.keys(EVENT_CATALOGUE) as EventName[];

/** Whether `name` is in the catalogue (events.log may hold names of an older gateway version). */
export function isEventName(name: string): name is EventName {
  return Object.prototype.hasOwnProperty.call(EVENT_CATALOGUE, name);
}

/** Whether the customer sees this event on their own page (false for a name the catalogue does not know). */
export function shownToCustomer(name: string): boolean {
  return isEventName(name) && (EVENT_CATALOGUE[name] as EventEntry).customer === true;
}

/** The severity of an event; `info` for a name the catalogue does not know (read from an older log). */
export function severityOf(name: string): Severity {
  return isEventName(name) ? EVENT_CATALOGUE[name].severity : 'info';
}
