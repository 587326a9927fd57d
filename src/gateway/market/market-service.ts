// Capacity requests: a customer asks for a size at a maximum price, the agents whose nodes fit it bid, the customer accepts one and it becomes an ordinary order.
import type { Logger } from 'pino';
import { randomBytes, toHex } from '../../identity/index.js';
import type { Clock } from '../../protocol/clock.js';
import { formatAmount, parseAmount, AmountError } from '../../protocol/money.js';
import { slotsFor, type Capacity } from '../../protocol/offer.js';
import { bidSignatureHolds, parseSignedBid, type CapacityRequest, type SignedBid } from '../../protocol/bid.js';
import { ID_PATTERN } from '../../protocol/agent-messages.js';
import { ValidationError, expectAgentPubKey, expectArray, expectInteger, expectObject, expectOnlyKeys, expectString } from '../../protocol/validate.js';
import type { EventSink } from '../events/event-log.js';
import { PublicError, errors } from '../http/public-error.js';
import type { NodeView } from '../agents/agent-hub.js';
import type { CapacityRequestRecord, CapacityRequestState, OrderRecord } from '../store/records.js';
import type { Table } from '../store/store.js';
import { parseOrderTerms, type OrderTerms } from '../orders/order-terms.js';
import { expectSecretsFor } from '../orders/order-secrets.js';
import { bidOffer } from './record-offer.js';
import { rankBids, type FarmerRecord, type HeldBid } from './bid-ranking.js';
import type { Offer } from '../../protocol/offer.js';
import { MARKET_EVENTS, type MarketEvent } from '../events/market-events.js';

const MINUTE_MS = 60_000;

/** Request states (docs/api.md "Capacity requests"). */
export type RequestState = CapacityRequestState;

/** A capacity request as the gateway works on it (stored as a CapacityRequestRecord after every change). */
export interface RequestRecord {
  readonly id: string;
  readonly customer: string;
  readonly subnet?: string;
  readonly size: Capacity;
  readonly maxPricePerHourMicros: bigint;
  readonly unit: string;
  readonly hours?: number;
  readonly farmers?: readonly string[];
  readonly nodes?: readonly string[];
  readonly createdAtMs: number;
  readonly expiresAtMs: number;
  /** Nodes the request was sent to (their agents were connected and they had room). */
  readonly sentTo: readonly string[];
  state: RequestState;
  /** The node whose bid was accepted. */
  acceptedNode?: string;
  /** Bids by node (a later bid of a node replaces its earlier one). */
  readonly bids: Map<string, HeldBid>;
  order?: string;
}

/** The market's bounds (config `market`, with the order caps reused). */
export interface MarketPolicy {
  /** Open requests one customer (or /64) may have (orders.maxUnpaid). */
  readonly maxOpen: number;
  /** Requests one customer (or /64) may make within `windowMs` (orders.maxPerWindow). */
  readonly maxPerWindow: number;
  readonly windowMs: number;
  /** Requests held in all, open and finished (finished ones are kept until the window passes). */
  readonly maxHeld: number;
  /** The longest a request may take bids (expiresInMinutes). */
  readonly maxExpiresInMinutes: number;
  readonly maxSshKeyBytes: number;
  /** Where VMs run: secrets sealed to the bid's node go with an accept on agent-run VMs, never on the grid. */
  readonly provisioner: 'agent' | 'grid';
}

/** What the market needs of the gateway. */
export interface MarketDeps {
  readonly clock: Clock;
  /** The gateway's AgentPubKey: a bid must name it. */
  readonly gateway: string;
  readonly unit: string;
  readonly events: EventSink;
  readonly log: Logger;
  readonly policy: MarketPolicy;
  /** Where requests are kept across a restart (the store's `requests` table). */
  readonly table: Table<CapacityRequestRecord>;
  /** Approved nodes with their connection state and capacity. */
  nodes(): NodeView[];
  /** Capacity already taken on a node. */
  usedOn(node: string): Capacity;
  /** Sends the request to a farmer's agent; false when it is not connected. */
  send(farmer: string, request: CapacityRequest): boolean;
  /** The farmer's record on this gateway (up-time, disputes). */
  recordOf(farmer: string): FarmerRecord;
  /** Places the order an accepted bid makes (the ordinary path, with the order caps). */
  placeOrder(customer: string, offer: Offer, terms: OrderTerms, subnet?: string): Promise<OrderRecord>;
}

/** A bid as the customer sees it: the signed bid as it is (so it can be handed back to accept), and the farmer's record. */
export interface BidView extends SignedBid {
  readonly validUntil: string;
  readonly farmerRecord: { readonly upPercent: string | null; readonly periods: number; readonly disputes: number };
}

/** A request with the bids that can be accepted now, as the API answers and both pages list it. */
export interface RequestListing {
  readonly request: RequestView;
  readonly bids: readonly BidView[];
}

/** A request as the customer sees it. */
export interface RequestView {
  readonly id: string;
  readonly state: RequestState;
  readonly cpu: number;
  readonly memoryGb: number;
  readonly diskGb: number;
  readonly maxPricePerHour: string;
  readonly unit: string;
  readonly hours?: number;
  readonly farmers?: readonly string[];
  readonly nodes?: readonly string[];
  readonly createdAt: string;
  readonly expiresAt: string;
  /** How many nodes the request was sent to: 0 means no connected node could fit it. */
  readonly sentTo: number;
  readonly order?: string;
  /** Why there is nothing to accept, when there is not. */
  readonly note?: string;
}

/**
 * Holds capacity requests and their bids. A bid is taken only from the connected agent of the
 * node it names, for a node the request was sent to, at or under the maximum, for exactly the
 * size asked, naming this gateway, unexpired, and with the farmer's signature over all of that.
 * Accepting hands the signed bid back: it is checked again, so a bid a customer changed (a lower
 * price) is refused, and the order keeps it as the evidence of the price.
 *
 * Every change to a request is written to the store, so a restarted gateway still holds the open
 * requests, their bids and the finished ones that count against the caps; they are read at start.
 */
export class MarketService {
  private readonly requests = new Map<string, RequestRecord>();

  constructor(private readonly deps: MarketDeps) {
    for (const stored of deps.table.values()) {
      const r = fromStored(stored);
      if (r) this.requests.set(r.id, r);
      else deps.log.warn({ request: stored.id }, 'a stored capacity request could not be read; it is left out');
    }
  }

  /** Validates a request, stores it, and sends it to every connected agent with a node that fits. */
  async create(customer: string, body: unknown, subnet?: string): Promise<RequestRecord> {
    const o = expectObject(body, 'body');
    expectOnlyKeys(o, ['cpu', 'memoryGb', 'diskGb', 'maxPricePerHour', 'hours', 'farmers', 'nodes', 'expiresInMinutes'], '');
    const size: Capacity = { cpu: expectInteger(o.cpu, 'cpu', 1, 1024), memoryGb: expectInteger(o.memoryGb, 'memoryGb', 1, 65536), diskGb: expectInteger(o.diskGb, 'diskGb', 1, 1_000_000) };
    let maxPricePerHourMicros: bigint;
    try {
      maxPricePerHourMicros = parseAmount('maxPricePerHour', o.maxPricePerHour);
    } catch (err) {
      if (err instanceof AmountError) throw new ValidationError('maxPricePerHour', err.message.replace(/^maxPricePerHour: /, ''), 'a decimal string such as "0.050000"');
      throw err;
    }
    const hours = o.hours === undefined ? undefined : expectInteger(o.hours, 'hours', 1, 8760);
    const farmers = o.farmers === undefined ? undefined : expectArray(o.farmers, 'farmers', 1, 16, (v, f) => expectAgentPubKey(v, f));
    const nodes = o.nodes === undefined ? undefined : expectArray(o.nodes, 'nodes', 1, 64, (v, f) => expectString(v, f, { maxLength: 64, pattern: ID_PATTERN, patternName: 'a node id' }));
    const expiresInMinutes = expectInteger(o.expiresInMinutes, 'expiresInMinutes', 1, this.deps.policy.maxExpiresInMinutes);
    const now = this.deps.clock.nowMs();
    this.prune(now);
    this.checkCaps(customer, subnet, now);
    const id = `req_${toHex(randomBytes(8))}`;
    const expiresAtMs = now + expiresInMinutes * MINUTE_MS;
    const byFarmer = new Map<string, string[]>();
    for (const n of this.deps.nodes()) {
      if (!n.connected || !n.up || !n.capacity) continue;
      if (farmers && !farmers.includes(n.farmer)) continue;
      if (nodes && !nodes.includes(n.id)) continue;
      const used = this.deps.usedOn(n.id);
      const free = { cpu: n.capacity.cpu - used.cpu, memoryGb: n.capacity.memoryGb - used.memoryGb, diskGb: n.capacity.diskGb - used.diskGb };
      if (slotsFor(size, free) < 1) continue;
      byFarmer.set(n.farmer, [...(byFarmer.get(n.farmer) ?? []), n.id]);
    }
    const sentTo: string[] = [];
    for (const [farmer, ids] of byFarmer) {
      const request: CapacityRequest = { id, ...size, maxPricePerHour: formatAmount(maxPricePerHourMicros), unit: this.deps.unit, ...(hours !== undefined ? { hours } : {}), expiresAtMs, nodes: ids.slice(0, 64) };
      if (this.deps.send(farmer, request)) sentTo.push(...request.nodes);
    }
    const record: RequestRecord = {
      id,
      customer,
      ...(subnet !== undefined ? { subnet } : {}),
      size,
      maxPricePerHourMicros,
      unit: this.deps.unit,
      ...(hours !== undefined ? { hours } : {}),
      ...(farmers ? { farmers } : {}),
      ...(nodes ? { nodes } : {}),
      createdAtMs: now,
      expiresAtMs,
      sentTo,
      state: 'open',
      bids: new Map(),
    };
    this.requests.set(id, record);
    await this.save(record);
    await this.event(record, MARKET_EVENTS.requestCreated, `asked for ${size.cpu} vCPU, ${size.memoryGb} GB RAM, ${size.diskGb} GB disk at most ${formatAmount(maxPricePerHourMicros)} ${this.deps.unit}/h; sent to ${sentTo.length} node(s)`);
    return record;
  }

  /** The customer's request (404 for anyone else's), with its state brought up to date. */
  get(customer: string, id: string): RequestRecord {
    const r = this.requests.get(id);
    if (!r || r.customer !== customer) throw errors.notFound(`request ${id}`);
    this.expire(r, this.deps.clock.nowMs());
    return r;
  }

  /** The customer's requests, oldest first. */
  list(customer: string): RequestRecord[] {
    const now = this.deps.clock.nowMs();
    const mine = [...this.requests.values()].filter((r) => r.customer === customer);
    for (const r of mine) this.expire(r, now);
    return mine;
  }

  /** Every request held (the admin page), oldest first. */
  all(): RequestRecord[] {
    const now = this.deps.clock.nowMs();
    for (const r of this.requests.values()) this.expire(r, now);
    return [...this.requests.values()];
  }

  /** The bids a customer can accept now, cheapest first: expired bids and bids on nodes that vanished are left out. */
  bidsOf(r: RequestRecord): HeldBid[] {
    if (r.state !== 'open') return r.state === 'accepted' ? [...r.bids.values()].filter((b) => b.bid.node === r.acceptedNode) : [];
    const now = this.deps.clock.nowMs();
    const live = new Set(this.deps.nodes().filter((n) => n.connected && n.up).map((n) => n.id));
    return rankBids([...r.bids.values()].filter((b) => b.bid.validUntilMs > now && live.has(b.bid.node)), (f) => this.deps.recordOf(f));
  }

  /**
   * A bid from a connected agent. Refused (logged, and an event, never stored) unless every
   * check in the class comment holds; `farmer` is the connection's authenticated key.
   */
  async onBid(farmer: string, farmerNodes: readonly string[], bid: SignedBid): Promise<void> {
    const refusal = this.bidRefusal(farmer, farmerNodes, bid);
    const r = this.requests.get(bid.request);
    if (refusal !== null) {
      this.deps.log.warn({ farmer, request: bid.request, node: bid.node, reason: refusal }, 'bid refused');
      if (r) await this.event(r, MARKET_EVENTS.bidRefused, `a bid from ${bid.node} was refused: ${refusal}`, { agent: farmer, node: bid.node });
      return;
    }
    const held = r as RequestRecord;
    held.bids.set(bid.node, { bid, receivedAtMs: this.deps.clock.nowMs() });
    await this.save(held);
    await this.event(held, MARKET_EVENTS.bidReceived, `${bid.node} bid ${bid.pricePerHour} ${bid.unit}/h, valid until ${new Date(bid.validUntilMs).toISOString()}`, { agent: farmer, node: bid.node });
  }

  /**
   * Accepts a bid: the signed bid handed back must be one this gateway received for the
   * request, still valid, its node still there, and its signature must hold. Then the order is
   * placed at the bid's price on the bid's node, and the rest is the ordinary order path.
   */
  async accept(customer: string, id: string, body: unknown, subnet?: string): Promise<OrderRecord> {
    const r = this.get(customer, id);
    const o = expectObject(body, 'body');
    expectOnlyKeys(o, ['bid', 'sshKeys', 'name', 'redeploy', 'secrets'], '');
    const bid = parseSignedBid(o.bid, 'bid');
    if (bid.request !== r.id) throw new ValidationError('bid.request', `names request ${bid.request}, not ${r.id}`, `accept one of the bids GET /v1/requests/${r.id} lists`);
    if (!bidSignatureHolds(bid)) throw new PublicError('bad_request', `bid.signature: does not verify for farmer ${bid.farmer} over this bid: it was changed, or not signed by that farmer`, `hand back a bid exactly as GET /v1/requests/${r.id} lists it`, { field: 'bid.signature' });
    const terms = parseOrderTerms(o, this.deps.policy.maxSshKeyBytes, this.deps.policy.provisioner);
    expectSecretsFor(terms.secrets, bid.node);
    if (r.state === 'accepted') throw new PublicError('conflict', `request ${r.id} was already accepted: order ${r.order ?? '?'}`, `GET /v1/orders/${r.order ?? ''}`);
    if (r.state === 'expired') throw new PublicError('conflict', `request ${r.id} expired at ${new Date(r.expiresAtMs).toISOString()}`, 'post a new request');
    const held = r.bids.get(bid.node);
    if (!held || held.bid.signature !== bid.signature) throw new PublicError('conflict', `bid.node: ${bid.node} has no such bid on request ${r.id}`, `accept one of the bids GET /v1/requests/${r.id} lists`, { field: 'bid' });
    const now = this.deps.clock.nowMs();
    if (bid.validUntilMs <= now) throw new PublicError('conflict', `the bid of ${bid.node} expired at ${new Date(bid.validUntilMs).toISOString()}`, 'accept another bid, or post a new request');
    const node = this.deps.nodes().find((n) => n.id === bid.node);
    if (!node || !node.connected || !node.up) throw new PublicError('conflict', `node ${bid.node} is no longer reachable`, 'accept another bid, or post a new request');
    const order = await this.deps.placeOrder(customer, bidOffer(bid), { ...terms, bid }, subnet);
    r.state = 'accepted';
    r.order = order.id;
    r.acceptedNode = bid.node;
    await this.save(r);
    await this.event(r, MARKET_EVENTS.bidAccepted, `accepted the bid of ${bid.node} at ${bid.pricePerHour} ${bid.unit}/h: order ${order.id}`, { agent: bid.farmer, node: bid.node, order: order.id });
    return order;
  }

  /** The request as the API shows it. */
  view(r: RequestRecord): RequestView {
    const note =
      r.state === 'expired' && r.bids.size === 0
        ? r.sentTo.length === 0
          ? 'no connected node could fit this request; it expired with no bids'
          : 'no farmer bid within the maximum price before the request expired'
        : r.state === 'expired'
          ? 'the request expired before a bid was accepted'
          : r.state === 'open' && r.sentTo.length === 0
            ? 'no connected node can fit this request right now; it will expire with no bids'
            : undefined;
    return {
      id: r.id,
      state: r.state,
      cpu: r.size.cpu,
      memoryGb: r.size.memoryGb,
      diskGb: r.size.diskGb,
      maxPricePerHour: formatAmount(r.maxPricePerHourMicros),
      unit: r.unit,
      ...(r.hours !== undefined ? { hours: r.hours } : {}),
      ...(r.farmers ? { farmers: r.farmers } : {}),
      ...(r.nodes ? { nodes: r.nodes } : {}),
      createdAt: new Date(r.createdAtMs).toISOString(),
      expiresAt: new Date(r.expiresAtMs).toISOString(),
      sentTo: r.sentTo.length,
      ...(r.order !== undefined ? { order: r.order } : {}),
      ...(note !== undefined ? { note } : {}),
    };
  }

  /** The request and its acceptable bids, cheapest first. */
  listing(r: RequestRecord): RequestListing {
    return { request: this.view(r), bids: this.bidsOf(r).map((b) => this.bidView(b)) };
  }

  /** A held bid as the API shows it. */
  bidView(b: HeldBid): BidView {
    const rec = this.deps.recordOf(b.bid.farmer);
    return {
      ...b.bid,
      validUntil: new Date(b.bid.validUntilMs).toISOString(),
      farmerRecord: { upPercent: rec.upBps === null ? null : (rec.upBps / 100).toFixed(2), periods: rec.periods, disputes: rec.disputes },
    };
  }

  private bidRefusal(farmer: string, farmerNodes: readonly string[], bid: SignedBid): string | null {
    const r = this.requests.get(bid.request);
    const now = this.deps.clock.nowMs();
    if (!r) return `no request ${bid.request}`;
    this.expire(r, now);
    if (r.state !== 'open') return `request ${r.id} is ${r.state}`;
    if (bid.farmer !== farmer) return `names farmer ${bid.farmer}, but came from agent ${farmer}`;
    if (!farmerNodes.includes(bid.node) || !r.sentTo.includes(bid.node)) return `node ${bid.node} is not one this request was sent to on this agent`;
    if (bid.gateway !== this.deps.gateway) return `names gateway ${bid.gateway}, not this one`;
    if (bid.cpu !== r.size.cpu || bid.memoryGb !== r.size.memoryGb || bid.diskGb !== r.size.diskGb) return 'bids on another size than the one requested';
    if (bid.unit !== r.unit) return `is in ${bid.unit}, not ${r.unit}`;
    if (parseAmount('bid.pricePerHour', bid.pricePerHour) > r.maxPricePerHourMicros) return `asks ${bid.pricePerHour}, over the maximum ${formatAmount(r.maxPricePerHourMicros)}`;
    if (bid.validUntilMs <= now) return 'had already expired';
    if (!bidSignatureHolds(bid)) return "the farmer's signature does not verify";
    if (r.bids.size >= 64 && !r.bids.has(bid.node)) return 'the request holds 64 bids already';
    return null;
  }

  private expire(r: RequestRecord, now: number): void {
    if (r.state === 'open' && now >= r.expiresAtMs) {
      r.state = 'expired';
      // Read paths expire requests too; the write is not awaited there, and a failure only leaves the stored one open, to expire again after a restart.
      void this.save(r).catch((err: unknown) => this.deps.log.warn({ request: r.id, err }, 'storing an expired request failed'));
      void this.event(r, MARKET_EVENTS.requestExpired, r.bids.size === 0 ? `expired with no bids (sent to ${r.sentTo.length} node(s))` : `expired with ${r.bids.size} bid(s), none accepted`).catch(() => undefined);
    }
  }

  /** Forgets finished requests older than the window (they no longer count against a cap). */
  private prune(now: number): void {
    for (const [id, r] of this.requests) {
      this.expire(r, now);
      if (r.state !== 'open' && r.createdAtMs <= now - this.deps.policy.windowMs) {
        this.requests.delete(id);
        void this.deps.table.delete(id).catch((err: unknown) => this.deps.log.warn({ request: id, err }, 'forgetting a finished request failed'));
      }
    }
  }

  private checkCaps(customer: string, subnet: string | undefined, now: number): void {
    const who = `you${subnet === undefined ? '' : ` (or your /64 ${subnet})`}`;
    const mine = [...this.requests.values()].filter((r) => r.customer === customer || (subnet !== undefined && r.subnet === subnet));
    const open = mine.filter((r) => r.state === 'open').length;
    if (open >= this.deps.policy.maxOpen) throw new PublicError('conflict', `${who} already have ${open} open requests (orders.maxUnpaid = ${this.deps.policy.maxOpen})`, 'accept a bid or wait for them to expire', { limit: 'orders.maxUnpaid' });
    const recent = mine.filter((r) => r.createdAtMs > now - this.deps.policy.windowMs);
    if (recent.length >= this.deps.policy.maxPerWindow) {
      const retryAfterSeconds = Math.max(1, Math.ceil((Math.min(...recent.map((r) => r.createdAtMs)) + this.deps.policy.windowMs - now) / 1000));
      throw new PublicError('rate_limited', `${who} made ${this.deps.policy.maxPerWindow} requests within orders.windowHours (orders.maxPerWindow)`, `ask again in ${retryAfterSeconds} s`, { limit: 'orders.maxPerWindow', retryAfterSeconds });
    }
    if (this.requests.size >= this.deps.policy.maxHeld) throw new PublicError('unavailable', `the gateway holds ${this.requests.size} requests, its limit (market.maxRequests)`, 'try again in a few minutes');
  }

  private save(r: RequestRecord): Promise<void> {
    return this.deps.table.put(r.id, toStored(r));
  }

  private event(r: RequestRecord, event: MarketEvent, detail: string, extra: { agent?: string; node?: string; order?: string } = {}): Promise<void> {
    return this.deps.events.record({ atMs: this.deps.clock.nowMs(), event, detail, customer: r.customer, ...extra, data: { request: r.id } });
  }
}

/** A request as the store keeps it: plain JSON, the price a decimal string, the bids a list. */
function toStored(r: RequestRecord): CapacityRequestRecord {
  // Every field but the two JSON cannot hold is copied as it is, so a field added to RequestRecord is stored without a change here.
  const { maxPricePerHourMicros, bids, ...rest } = r;
  return { ...rest, maxPricePerHour: formatAmount(maxPricePerHourMicros), bids: [...bids.values()] };
}

/** A stored request back in working form; null when its price does not parse (a damaged row is left out, not guessed at). */
function fromStored(s: CapacityRequestRecord): RequestRecord | null {
  let maxPricePerHourMicros: bigint;
  try {
    maxPricePerHourMicros = parseAmount('maxPricePerHour', s.maxPricePerHour);
  } catch {
    return null;
  }
  const { maxPricePerHour: _price, bids, ...rest } = s;
  return { ...rest, maxPricePerHourMicros, bids: new Map(bids.map((b) => [b.bid.node, b])) };
}
