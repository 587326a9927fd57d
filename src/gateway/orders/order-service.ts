// Orders: awaiting_payment -> paid -> provisioning -> active (or failed, expired); a VM is handed over only after the ledger shows the deposit.
import type { Logger } from 'pino';
import { errorMessage } from '../../identity/error-message.js';
import { randomBytes, toHex } from '../../identity/index.js';
import type { Clock } from '../../protocol/clock.js';
import { HOUR_MS } from '../../protocol/clock.js';
import { formatAmount, UNIT } from '../../protocol/money.js';
import type { Offer } from '../../protocol/offer.js';
import { ValidationError, expectObject, expectOnlyKeys, expectString } from '../../protocol/validate.js';
import type { EventSink } from '../events/event-log.js';
import type { EventName } from '../events/event-catalogue.js';
import { LedgerUnavailableError, type Ledger } from '../ledger/ledger.js';
import { PublicError, errors } from '../http/public-error.js';
import { ProvisionError, type Provisioner } from '../provision/provisioner.js';
import type { Store } from '../store/store.js';
import type { AccessRecord, DeploymentRecord, OrderRecord } from '../store/records.js';
import { newAccessRecord } from '../escrow/access-decision.js';
import { secretNodes, secretsFor, secretsOpenOn } from './order-secrets.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { OrderHistory } from './order-archive.js';
import { parseOrderTerms, type OrderTerms } from './order-terms.js';
import { recordOffer } from '../market/record-offer.js';

/** Order policy. */
export interface OrderPolicy {
  /** The deposit is this much of the offer's price (default 24 hours). */
  readonly depositMs: number;
  readonly expireAfterMs: number;
  readonly maxProvisionAttempts: number;
  /**
   * How long after payment an order with no node that has room stays `paid` and is tried again
   * (config orders.roomWaitHours); then it fails. 0 or absent: it fails at once.
   */
  readonly roomWaitMs?: number;
  /** Unpaid orders one customer may have open at once (config orders.maxUnpaid). */
  readonly maxOpenOrders: number;
  /** Orders one customer may create within `windowMs`, whatever became of them (config orders.maxPerWindow). */
  readonly maxPerWindow: number;
  readonly windowMs: number;
  /** Bytes of SSH key lines one order may carry (config orders.maxSshKeyBytes). */
  readonly maxSshKeyBytes: number;
  /** Access escrow window after handover (config escrow.windowHours); 0 or absent: escrow off. */
  readonly accessWindowMs?: number;
}

/** What the order service needs. */
export interface OrderDeps {
  readonly clock: Clock;
  readonly store: Pick<Store, 'orders' | 'deployments'>;
  /** Where expired and failed orders go, out of the store's hot table. */
  readonly archive: OrderHistory;
  readonly ledger: Ledger;
  readonly provisioner: Provisioner;
  readonly events: EventSink;
  readonly log: Logger;
  readonly policy: OrderPolicy;
  offer(id: string): Offer | undefined;
  offerIds(): string[];
  /** Unpaid charges of a customer (they must be settled before a new VM is handed over). */
  arrearsOf(customer: string): bigint;
  /** Trust limits (gateway/trust/): refuses a VM beyond the customer's tier, and sets the deposit. */
  readonly trust?: { admit(customer: string): void; depositMsFor(customer: string): number };
  /** A VM was handed over (agents must start probing it). */
  onActive(deployment: DeploymentRecord): void;
}

/** The last payment check of an order, for the customer and the admin timeline. */
export interface PaymentCheck {
  readonly atMs: number;
  readonly status: 'covered' | 'not_covered' | 'unavailable';
  readonly availableMicros?: bigint;
  readonly requiredMicros: bigint;
}

/** The deposit of an offer: its hourly price times the deposit duration, rounded up to a micro-unit. */
export function depositOf(offer: Offer, depositMs: number): bigint {
  const num = offer.pricePerHourMicros * BigInt(depositMs);
  const den = BigInt(HOUR_MS);
  return (num + den - 1n) / den;
}

/** An order's state as customers and admins see it: once handed over, it follows its deployment. */
export type OrderViewState = OrderRecord['state'] | 'grace' | 'deprovisioned';

/**
 * The state to show for an order. A handed-over order (`active`) says what its deployment is
 * now, so a customer whose VM is in grace or was deprovisioned does not read `active`.
 */
export function orderStateOf(order: OrderRecord, deployment: DeploymentRecord | undefined): OrderViewState {
  if (order.state !== 'active' || deployment === undefined) return order.state;
  return deployment.state === 'grace' || deployment.state === 'deprovisioned' ? deployment.state : order.state;
}

/**
 * Runs the order state machine. Payment is re-checked on every GET of the order and by a
 * background loop; provisioning of one order runs once at a time; after a crash an order
 * found in `provisioning` is deployed again on the same node under the same deployment id
 * (deploys are idempotent by id), so no VM is orphaned and none is made twice.
 */
export class OrderService {
  private readonly checks = new Map<string, PaymentCheck>();
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Paid orders told they wait for room (so it is said once); bounded by the open orders, each leaves when its state moves on. */
  private readonly waitingForRoom = new Set<string>();
  /** One payment check per customer at a time: each sees the deposits the previous one reserved. */
  private readonly payments = new KeyedMutex();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly deps: OrderDeps) {}

  /**
   * Validates and stores a new order; 400 naming the field for anything wrong. `subnet` is the
   * /64 it is placed from: the unpaid and per-window caps count the customer's orders and the
   * /64's, because linking a fresh identity to a /64 costs nothing.
   */
  async create(customer: string, body: unknown, subnet?: string): Promise<OrderRecord> {
    const o = expectObject(body, 'body');
    expectOnlyKeys(o, ['offer', 'sshKeys', 'name', 'redeploy', 'secrets'], '');
    const offerId = expectString(o.offer, 'offer', { maxLength: 32 });
    const offer = this.deps.offer(offerId);
    if (!offer) throw new ValidationError('offer', `unknown offer ${JSON.stringify(offerId)}`, `offers: ${this.deps.offerIds().join(', ')} (GET /v1/offers)`);
    return this.place(customer, offer, parseOrderTerms(o, this.deps.policy.maxSshKeyBytes, this.deps.provisioner.kind), subnet);
  }

  /**
   * Stores a new order for `offer` on `terms`, under the same caps as every order (an accepted
   * bid comes here with its bid's offer: the price and the node are the bid's), the trust tier's
   * included.
   */
  async place(customer: string, offer: Offer, terms: OrderTerms, subnet?: string): Promise<OrderRecord> {
    const { sshKeys, name, secrets } = terms;
    this.deps.trust?.admit(customer);
    const mine = this.deps.store.orders.values().filter((x) => x.customer === customer || (subnet !== undefined && x.subnet === subnet));
    const open = mine.filter((x) => x.state === 'awaiting_payment').length;
    if (open >= this.deps.policy.maxOpenOrders) {
      throw new PublicError('conflict', `you${subnet === undefined ? '' : ` (or your /64 ${subnet})`} already have ${open} unpaid orders (orders.maxUnpaid = ${this.deps.policy.maxOpenOrders})`, 'pay or wait for them to expire before ordering more', { limit: 'orders.maxUnpaid' });
    }
    const now = this.deps.clock.nowMs();
    const since = now - this.deps.policy.windowMs;
    const recent = [...mine, ...this.deps.archive.of(customer), ...(subnet === undefined ? [] : this.deps.archive.fromSubnet(subnet))].filter((x) => x.createdAtMs > since);
    if (new Set(recent.map((x) => x.id)).size >= this.deps.policy.maxPerWindow) {
      const oldest = Math.min(...recent.map((x) => x.createdAtMs));
      const retryAfterSeconds = Math.max(1, Math.ceil((oldest + this.deps.policy.windowMs - now) / 1000));
      throw new PublicError(
        'rate_limited',
        `you${subnet === undefined ? '' : ` (or your /64 ${subnet})`} created ${this.deps.policy.maxPerWindow} orders in the last ${formatWindow(this.deps.policy.windowMs)} (orders.maxPerWindow)`,
        `order again in ${retryAfterSeconds} s`,
        { limit: 'orders.maxPerWindow', retryAfterSeconds },
      );
    }
    const id = `ord_${toHex(randomBytes(8))}`;
    const order: OrderRecord = {
      id,
      customer,
      offer: offer.id,
      name: name ?? `vm-${id.slice(4, 12)}`,
      sshKeys,
      pricePerHour: formatAmount(offer.pricePerHourMicros),
      deposit: formatAmount(depositOf(offer, this.depositMsFor(customer))),
      unit: offer.unit,
      state: 'awaiting_payment',
      createdAtMs: now,
      expiresAtMs: now + this.deps.policy.expireAfterMs,
      ...(subnet === undefined ? {} : { subnet }),
      attempts: [],
      ...(secrets === undefined ? {} : { secrets }),
      ...(terms.bid ? { bid: terms.bid } : {}),
      ...(terms.redeploy ? { redeploy: true } : {}),
    };
    await this.deps.store.orders.put(id, order);
    await this.event(order, 'order.created', `ordered ${offer.id} at ${order.pricePerHour} ${offer.unit}/h with ${sshKeys.length} SSH key(s)${secrets ? ` and ${secrets.length} sealed secret(s) for ${secretNodes(secrets).join(', ')}` : ''}; deposit ${order.deposit}`);
    return order;
  }

  /** The customer's order, open or archived, or 404 (another customer's order is not found, not forbidden). */
  get(customer: string, id: string): OrderRecord {
    const order = this.deps.store.orders.get(id) ?? this.deps.archive.get(id);
    if (!order || order.customer !== customer) throw errors.notFound(`order ${id}`);
    return order;
  }

  /** A customer's orders, open and archived (the archive's newest per customer), oldest first. */
  list(customer: string): OrderRecord[] {
    const byId = new Map<string, OrderRecord>();
    for (const o of this.deps.archive.of(customer)) byId.set(o.id, o);
    for (const o of this.deps.store.orders.values()) if (o.customer === customer && !byId.has(o.id)) byId.set(o.id, o);
    return [...byId.values()].sort((a, b) => a.createdAtMs - b.createdAtMs);
  }

  /** The last payment check of an order. */
  lastCheck(id: string): PaymentCheck | undefined {
    return this.checks.get(id);
  }

  /** Moves an order along as far as it can go now: expiry, payment check, provisioning. */
  advance(id: string): Promise<void> {
    const running = this.inFlight.get(id);
    if (running) return running;
    const task = this.step(id).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, task);
    return task;
  }

  /** Starts the background loop that advances open orders. */
  start(intervalRealMs: number): void {
    const tick = (): void => {
      if (this.stopped) return;
      const all = this.deps.store.orders.values();
      // Finished orders still in the hot table (a crash between archiving and deleting, or a store from before the archive).
      for (const o of all) if (o.state === 'expired' || o.state === 'failed') void this.archive(o).catch((err: unknown) => this.deps.log.error({ err, order: o.id }, 'order.archive failed'));
      const open = all.filter((o) => o.state === 'awaiting_payment' || o.state === 'paid' || o.state === 'provisioning');
      void Promise.all(open.map((o) => this.advance(o.id).catch((err: unknown) => this.deps.log.error({ err, order: o.id }, 'order.advance failed')))).finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, intervalRealMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight.values()]);
  }

  private async step(id: string): Promise<void> {
    let order = this.deps.store.orders.get(id);
    if (!order) return;
    if (order.state === 'awaiting_payment') {
      if (this.deps.clock.nowMs() >= order.expiresAtMs) {
        await this.update(order, { state: 'expired' }, 'order.expired', `not paid by ${new Date(order.expiresAtMs).toISOString()}`);
        return;
      }
      const waiting = order;
      if (!(await this.payments.run(waiting.customer, () => this.checkPayment(waiting.id)))) return;
      order = this.deps.store.orders.get(id);
      if (!order) return;
    }
    if (order.state === 'paid' || order.state === 'provisioning') await this.provision(order);
  }

  /**
   * True when the ledger shows the deposit (the order is then `paid`). Runs under the
   * customer's lock, so the order is read again here: the state it was in when the check was
   * queued may be stale.
   */
  private async checkPayment(id: string): Promise<boolean> {
    const order = this.deps.store.orders.get(id);
    if (!order || order.state !== 'awaiting_payment') return order !== undefined && (order.state === 'paid' || order.state === 'provisioning');
    const required = this.requiredFor(order);
    const previous = this.checks.get(order.id)?.status;
    let balance: bigint;
    try {
      balance = (await this.deps.ledger.balance(order.customer)).availableMicros;
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError)) throw err;
      this.checks.set(order.id, { atMs: this.deps.clock.nowMs(), status: 'unavailable', requiredMicros: required });
      if (previous !== 'unavailable') await this.event(order, 'order.payment_unavailable', `the ledger could not be reached (${err.message}); will check again`);
      return false;
    }
    const covered = balance >= required;
    this.checks.set(order.id, { atMs: this.deps.clock.nowMs(), status: covered ? 'covered' : 'not_covered', availableMicros: balance, requiredMicros: required });
    if (!covered) {
      if (previous !== 'not_covered') {
        await this.event(order, 'order.payment_checked', `agreement holds ${formatAmount(balance)} ${UNIT}, ${formatAmount(required)} needed (deposit${required > this.depositMicros(order) ? ', deposits of running VMs and arrears' : ''})`);
      }
      return false;
    }
    const deployment = `dep_${toHex(randomBytes(8))}`;
    await this.update(order, { state: 'paid', paidAtMs: this.deps.clock.nowMs(), deployment }, 'order.paid', `agreement holds ${formatAmount(balance)} ${UNIT}, covering ${formatAmount(required)}`);
    return true;
  }

  /**
   * Deposit of this order, plus the deposits already reserved by the customer (VMs running or
   * in grace, and orders paid or being deployed that have no deployment yet), plus arrears.
   * Counting paid orders is what stops one deposit from paying for many VMs ordered at once.
   */
  private requiredFor(order: OrderRecord): bigint {
    // One tier lookup per check: it scans the customer's receipts.
    const depositMs = this.depositMsFor(order.customer);
    let total = this.depositMicros(order, depositMs) + this.deps.arrearsOf(order.customer);
    const counted = new Set<string>();
    for (const d of this.deps.store.deployments.values()) {
      if (d.customer !== order.customer || (d.state !== 'provisioning' && d.state !== 'active' && d.state !== 'grace')) continue;
      counted.add(d.order);
      const offer = recordOffer(d, (id) => this.deps.offer(id));
      if (offer) total += depositOf(offer, depositMs);
    }
    for (const o of this.deps.store.orders.values()) {
      if (o.customer !== order.customer || o.id === order.id || counted.has(o.id)) continue;
      if (o.state === 'paid' || o.state === 'provisioning') total += this.depositMicros(o, depositMs);
    }
    return total;
  }

  private depositMicros(order: OrderRecord, depositMs = this.depositMsFor(order.customer)): bigint {
    const offer = recordOffer(order, (id) => this.deps.offer(id));
    return offer ? depositOf(offer, depositMs) : 0n;
  }

  /** The customer's deposit duration: their trust tier's, else the billing deposit. */
  private depositMsFor(customer: string): number {
    return this.deps.trust?.depositMsFor(customer) ?? this.deps.policy.depositMs;
  }

  private async provision(start: OrderRecord): Promise<void> {
    let order = start;
    const offer = recordOffer(order, (id) => this.deps.offer(id));
    const deploymentId = order.deployment as string;
    if (!offer) {
      await this.update(order, { state: 'failed', failure: `the offer ${order.offer} is no longer sold` }, 'order.failed', `offer ${order.offer} was removed from the catalog`);
      return;
    }
    // Accept refuses this now (expectSecretsFor); an order stored by an older gateway fails at once, for
    // its real cause, instead of waiting orders.roomWaitHours for room on a node it can never use.
    if (order.bid && order.secrets && !secretsOpenOn(order.secrets, order.bid.node)) {
      const failure = `your secrets are not sealed to ${order.bid.node}, the node of the bid you accepted (they name ${secretNodes(order.secrets).join(', ')}): the VM could run nowhere else; nothing was charged`;
      await this.update(order, { state: 'failed', failure }, 'order.failed', failure);
      return;
    }
    while (order.attempts.length < this.deps.policy.maxProvisionAttempts) {
      const tried = new Set(order.attempts.map((a) => a.node));
      let node = order.state === 'provisioning' ? order.node : undefined;
      let farmer: string | undefined;
      if (node === undefined || tried.has(node)) {
        // An order with secrets runs only where they can be opened: on a node each is sealed to; an
        // order from a bid goes on the bid's node or nowhere (another farmer never signed that price).
        const secrets = order.secrets;
        const candidates = (await this.deps.provisioner.candidateNodes(offer)).filter((c) => !tried.has(c.node) && (secrets === undefined || secretsOpenOn(secrets, c.node)) && (order.bid === undefined || c.node === order.bid.node));
        const pick = candidates[0];
        if (!pick) {
          if (await this.waitForRoom(order, offer)) return;
          break;
        }
        node = pick.node;
        farmer = pick.farmer;
      } else {
        farmer = (await this.deps.provisioner.candidateNodes(offer)).find((c) => c.node === node)?.farmer ?? order.farmer;
      }
      order = await this.update(order, { state: 'provisioning', node, ...(farmer ? { farmer } : {}) }, 'order.provisioning', `deploying ${offer.id} on node ${node}`);
      try {
        const vm = await this.deps.provisioner.deploy({ deploymentId, name: order.name, offer, sshKeys: order.sshKeys, node, ...(order.secrets ? { secrets: secretsFor(order.secrets, node) } : {}) });
        const now = this.deps.clock.nowMs();
        const deployment: DeploymentRecord = {
          id: deploymentId,
          order: order.id,
          customer: order.customer,
          offer: offer.id,
          name: order.name,
          pricePerHour: order.pricePerHour,
          unit: order.unit,
          sshKeys: order.sshKeys,
          provisioner: this.deps.provisioner.kind,
          node,
          farmer: farmer ?? '',
          myceliumIp: vm.myceliumIp,
          vmRef: vm.ref,
          state: 'active',
          createdAtMs: now,
          activatedAtMs: now,
          ...withAccess(newAccessRecord(now, this.deps.policy.accessWindowMs ?? 0)),
          ...(order.bid ? { bid: order.bid } : {}),
          ...(order.redeploy ? { redeploy: true } : {}),
        };
        await this.deps.store.deployments.put(deploymentId, deployment);
        await this.update(order, { state: 'active' }, 'order.active', `VM ${deploymentId} is running on ${node} at ${vm.myceliumIp}`);
        await this.deps.events.record({ atMs: now, event: 'deployment.active', detail: `handed over: ssh root@${vm.myceliumIp} with ${order.sshKeys.length} key(s), on node ${node}`, deployment: deploymentId, order: order.id, customer: order.customer, node, ...(farmer ? { agent: farmer } : {}) });
        this.deps.onActive(deployment);
        return;
      } catch (err) {
        const reason = err instanceof ProvisionError ? err.message : `unexpected: ${errorMessage(err)}`;
        this.deps.log.warn({ order: order.id, node, err: reason }, 'provisioning failed');
        const attempts = [...order.attempts, { node, atMs: this.deps.clock.nowMs(), error: reason }];
        order = await this.update(order, { attempts }, 'order.provision_failed', `deploying on ${node} failed: ${reason}`);
        await this.deps.provisioner.destroy({ deploymentId, node, myceliumIp: '', ref: {} }).catch(() => undefined);
        if (err instanceof ProvisionError && !err.retryable) break;
      }
    }
    const last = order.attempts[order.attempts.length - 1];
    const failure =
      order.attempts.length === 0
        ? order.secrets
          ? `none of the nodes your secrets are sealed to (${secretNodes(order.secrets).join(', ')}) has room for ${offer.id} right now; nothing was charged`
          : `no node has room for ${offer.id} right now; nothing was charged`
        : `could not deploy after ${order.attempts.length} attempt(s) (last: ${last?.error ?? 'unknown'}); nothing was charged`;
    await this.update(order, { state: 'failed', failure }, 'order.failed', failure);
  }

  /**
   * True while a paid order with no node that has room should wait and be tried again (each
   * round of the order loop): a node that missed a few heartbeats, or room freed by a cancelled
   * VM, should not fail an order the customer has paid. Says so once, with the deadline.
   */
  private async waitForRoom(order: OrderRecord, offer: Offer): Promise<boolean> {
    // Only before a first attempt, and only with a payment time to count from (else the deadline would move with every round).
    if (order.attempts.length > 0 || order.paidAtMs === undefined) return false;
    const untilMs = order.paidAtMs + (this.deps.policy.roomWaitMs ?? 0);
    if (this.deps.clock.nowMs() >= untilMs) return false;
    if (!this.waitingForRoom.has(order.id)) {
      this.waitingForRoom.add(order.id);
      await this.event(order, 'order.waiting_for_room', `no node has room for ${offer.id} right now; trying again until ${new Date(untilMs).toISOString()}, then the order fails and nothing is charged`);
    }
    return true;
  }

  private async update(order: OrderRecord, change: Partial<OrderRecord>, event: EventName, detail: string): Promise<OrderRecord> {
    const next = { ...order, ...change };
    if (next.state !== 'paid') this.waitingForRoom.delete(order.id);
    await this.deps.store.orders.put(order.id, next);
    await this.event(next, event, detail);
    if (next.state === 'expired' || next.state === 'failed') await this.archive(next);
    return next;
  }

  /**
   * Moves a finished order to the archive: stored there first, then deleted from the hot
   * table, so a crash in between leaves it in both (archived again, harmlessly), never in neither.
   */
  private async archive(order: OrderRecord): Promise<void> {
    await this.deps.archive.add(order);
    await this.deps.store.orders.delete(order.id);
  }

  private event(order: OrderRecord, event: EventName, detail: string): Promise<void> {
    return this.deps.events.record({ atMs: this.deps.clock.nowMs(), event, detail, order: order.id, customer: order.customer, ...(order.deployment ? { deployment: order.deployment } : {}) });
  }
}

/** The access escrow field of a new deployment, when escrow is on. */
function withAccess(access: AccessRecord | undefined): { access?: AccessRecord } {
  return access === undefined ? {} : { access };
}

/** "24 h", "90 min": a window for a message. */
function formatWindow(ms: number): string {
  return ms % HOUR_MS === 0 ? `${ms / HOUR_MS} h` : `${Math.round(ms / 60_000)} min`;
}
