// The gateway's side of `/v1/agent`: authenticates farmer agents, checks their heartbeat chains, records up-time, and sends them commands.
import type { RateLimiter } from '../limits/rate-limiter.js';
import { guardedRequest, type OriginPolicy } from '../http/origin-guard.js';
import { errorBody } from '../http/public-error.js';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { errorMessage } from '../../identity/error-message.js';
import {
  decodeAgentPubKey,
  fromBase64,
  formatIpv6,
  isMyceliumBytes,
  parseIpv6,
  sameSubnet64,
  randomBytes,
  subnet64Of,
  toBase64Url,
  verify,
  verifyJsonStatement,
  type Identity,
} from '../../identity/index.js';
import {
  AGENT_AUTH_PURPOSE,
  CHAIN_HEAD_PURPOSE,
  CLOSE,
  MAX_RECEIPTS_PER_BATCH_MESSAGE,
  ValidationError,
  messageText,
  parseAgentMessage,
  receiptSigningBytes,
  type AgentMessage,
  type ChainHeadMessage,
  type CommandOp,
  type GatewayMessage,
  type HeartbeatMessage,
  type HelloMessage,
  type HelloNode,
  type Receipt,
  type ReceiptAgentHead,
  type ReceiptBodyV2,
  type SignedTreeHead,
  type ResultMessage,
  type VmAssignment,
  type CapacityRequest,
  type SignedBid,
} from '../../protocol/index.js';
import type { Clock } from '../../protocol/clock.js';
import type { Emits } from '../../protocol/typed-emitter.js';
import type { EventSink, TimelineEvent } from '../events/event-log.js';
import type { EventName } from '../events/event-catalogue.js';
import type { Store } from '../store/store.js';
import type { UptimeBook } from '../uptime/uptime-book.js';
import { MISSED_HEARTBEATS_FOR_DOWN, type Sample } from '../../protocol/uptime.js';
import { AgentRequests, type AgentRequestPolicy } from './agent-requests.js';
import { vmAddressRefusal } from './vm-address.js';
import { HeartbeatChain } from './heartbeat-chain.js';
import type { SealedSecret } from '../../protocol/sealed-secret.js';

/** What the hub announces: billing listens for countersignatures, metrics for heartbeats. */
export type HubEvents = {
  /** A farmer countersigned (signature) or refused (reason) a v1 receipt. */
  readonly countersign: [receiptId: string, agent: string, result: { signature: string } | { reason: string }];
  /** A farmer countersigned (the root of the receipts it agrees with) or refused its batch under a tree head. */
  readonly batchCountersign: [treeHeadHash: string, agent: string, result: { size: number; root: string; signature: string; refused: ReadonlyArray<{ receiptId: string; reason: string }> } | { reason: string }];
  /** A heartbeat was ingested. */
  readonly heartbeat: [agent: string];
  /** The agent saw a key log in to a VM (access escrow checks the agent is that VM's farmer and the key the customer's). */
  readonly vmLogin: [agent: string, deploymentId: string, keyFingerprint: string];
  /** A connected agent sent a bid (`nodes`: the nodes its connection speaks for); the market checks it. */
  readonly bid: [agent: string, nodes: readonly string[], bid: SignedBid];
};

/** What the hub needs from the rest of the gateway. */
export interface AgentHubDeps {
  readonly store: Pick<Store, 'agents' | 'chains' | 'meta'>;
  readonly clock: Clock;
  readonly identity: Identity;
  readonly heartbeatIntervalMs: number;
  readonly periodMs: number;
  readonly uptime: UptimeBook;
  readonly events: EventSink;
  readonly log: Logger;
  /** Bounds on join requests of unknown agents (config `agentRequests`). */
  readonly agentRequests: AgentRequestPolicy;
  /** Every period before this time (clock ms) is closed: late heartbeats for it are not counted. */
  closedThroughMs(): number;
  /** VMs placed on these nodes, for the agent to probe. */
  assignmentsFor(nodes: readonly string[]): VmAssignment[];
  /** Where the hub announces what agents sent: countersignatures (for billing) and heartbeats (for metrics). */
  readonly signals: Emits<HubEvents>;
  /**
   * The browser guard of the HTTP routes (http/origin-guard.ts). Browsers open cross-site
   * WebSockets without asking, so an upgrade is held to the rules of a state-changing request:
   * the Host must be the gateway's own and a foreign Origin is refused.
   */
  readonly origin?: Pick<OriginPolicy, 'check'>;
  /** Upgrades a /64 may start (limits/rate-limiter.ts): each is a hello to verify, a cost a stranger must not multiply. */
  readonly upgrades?: Pick<RateLimiter, 'take'>;
}

/** A connected agent, as the admin page shows it. */
export interface AgentView {
  readonly agent: string;
  readonly address: string;
  readonly nodes: readonly HelloNode[];
  readonly connectedAtMs: number;
  readonly lastHeartbeatAtMs?: number;
  readonly seq: number;
}

/** A node, as orders and the admin page see it. */
export interface NodeView {
  readonly id: string;
  readonly farmer: string;
  readonly connected: boolean;
  readonly up: boolean;
  readonly capacity?: HelloNode['capacity'];
  readonly lastHeartbeatAtMs?: number;
}

interface Connection {
  readonly ws: WebSocket;
  readonly agent: string;
  readonly address: string;
  readonly nodes: readonly HelloNode[];
  readonly connectedAtMs: number;
  lastHeartbeatAtMs?: number;
  /** A message or a pong arrived since the last ping round (see ping). */
  heard: boolean;
  /** The last round pinged it (it had been silent). */
  pinged: boolean;
  /** VMs placed on this agent's nodes (id -> node), kept current by refreshAssignments. */
  assigned: Map<string, string>;
  readonly pending: Map<string, { resolve: (r: ResultMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>;
}

/** A command to an agent failed: not connected, timed out, or the agent said no. */
export class AgentCommandError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
    this.name = 'AgentCommandError';
  }
}

const AUTH_TIMEOUT_MS = 10_000;
const PING_EVERY_MS = 20_000;
/** Receipts kept waiting for an offline farmer's countersignature. */
const MAX_PENDING_COUNTERSIGNS = 10_000;
/** Batches (periods) kept waiting for an offline farmer; older ones are asked for again after a restart. */
const MAX_PENDING_BATCHES = 8;

/**
 * One connection per agent: a challenge, a signed hello naming its nodes, then heartbeats.
 * Accepted only if the key is approved for those nodes (in the config, or by an admin after
 * the agent asked) and the connection comes from a /64 registered for it.
 */
export class AgentHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  private readonly connections = new Map<string, Connection>();
  private readonly chains = new Map<string, HeartbeatChain>();
  private readonly heads = new Map<string, Map<number, ReceiptAgentHead>>();
  private readonly pendingCountersigns = new Map<string, Receipt[]>();
  private readonly nodeIdSets = new WeakMap<readonly HelloNode[], ReadonlySet<string>>();
  private readonly pendingBatches = new Map<string, Array<{ head: SignedTreeHead; receipts: readonly ReceiptBodyV2[] }>>();
  private readonly pinger: NodeJS.Timeout;
  private readonly requests: AgentRequests;
  private closing = false;

  constructor(private readonly deps: AgentHubDeps) {
    this.requests = new AgentRequests(deps.store.agents, deps.agentRequests);
    for (const c of deps.store.chains.values()) this.chains.set(c.agent, new HeartbeatChain(c.seq, c.head, deps.periodMs));
    const carry = deps.store.meta.get('uptimeCarry');
    if (carry && typeof carry === 'object') deps.uptime.restore(carry as Record<string, Sample>);
    this.pinger = setInterval(() => this.ping(), PING_EVERY_MS);
    this.pinger.unref();
  }

  /** Handles WebSocket upgrades for /v1/agent on the gateway's HTTP server. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
  }

  /** Connected agents. */
  agents(): AgentView[] {
    return [...this.connections.values()].map((c) => ({
      agent: c.agent,
      address: c.address,
      nodes: c.nodes,
      connectedAtMs: c.connectedAtMs,
      ...(c.lastHeartbeatAtMs !== undefined ? { lastHeartbeatAtMs: c.lastHeartbeatAtMs } : {}),
      seq: this.chains.get(c.agent)?.seq ?? 0,
    }));
  }

  /** Every approved node, connected or not. */
  nodes(): NodeView[] {
    const now = this.deps.clock.nowMs();
    const out: NodeView[] = [];
    for (const a of this.deps.store.agents.values()) {
      if (a.state !== 'approved') continue;
      const c = this.connections.get(a.agent);
      for (const id of a.nodes) {
        const hello = c?.nodes.find((n) => n.id === id);
        out.push({
          id,
          farmer: a.agent,
          connected: hello !== undefined,
          up: this.deps.uptime.isUp(`node:${id}`, now),
          ...(hello ? { capacity: hello.capacity } : {}),
          ...(c?.lastHeartbeatAtMs !== undefined && hello ? { lastHeartbeatAtMs: c.lastHeartbeatAtMs } : {}),
        });
      }
    }
    return out;
  }

  /** The farmer agent approved for `node`. */
  farmerOf(node: string): string | undefined {
    return this.deps.store.agents.values().find((a) => a.state === 'approved' && a.nodes.includes(node))?.agent;
  }

  /** How much chain evidence the hub keeps in memory for an agent: open periods and signed heads (bounded whatever the agent sends). */
  heldEvidence(agent: string): { periods: number; heads: number } {
    return { periods: this.chains.get(agent)?.openPeriods ?? 0, heads: this.heads.get(agent)?.size ?? 0 };
  }

  /**
   * Whether every agent's heartbeats up to `endMs` have arrived (the period closer's EvidenceSource):
   * each connected agent has sent one stamped at or after `endMs`; while `startingUp`, also each
   * approved agent that was reporting when the last period closed (its carried-over sample is
   * recent) and has not reconnected yet: it buffered heartbeats while the gateway was down.
   */
  evidenceComplete(endMs: number, startingUp: boolean): boolean {
    const endIndex = Math.floor(endMs / this.deps.periodMs);
    const liveSinceMs = this.deps.closedThroughMs() - MISSED_HEARTBEATS_FOR_DOWN * this.deps.heartbeatIntervalMs;
    for (const a of this.deps.store.agents.values()) {
      if (a.state !== 'approved') continue;
      const chain = this.chains.get(a.agent);
      if (chain === undefined || chain.seq === 0) continue;
      if (chain.hasPeriodFrom(endIndex)) continue;
      if (this.connections.has(a.agent)) return false;
      if (startingUp && a.nodes.some((n) => (this.deps.uptime.last(`node:${n}`)?.atMs ?? -Infinity) >= liveSinceMs)) return false;
    }
    return true;
  }

  /** The agent's signed chain head for the period starting at `periodStartMs`, if it sent one. */
  agentHead(agent: string, periodStartMs: number): ReceiptAgentHead | null {
    return this.heads.get(agent)?.get(periodStartMs) ?? null;
  }

  /** Sends a command for a VM on `node` to its agent and waits for the result. */
  async command(node: string, op: CommandOp, vm: { id: string; sshKeys?: readonly string[]; seedHex?: string; secrets?: readonly SealedSecret[] }, timeoutMs: number): Promise<ResultMessage> {
    const farmer = this.farmerOf(node);
    const conn = farmer ? this.connections.get(farmer) : undefined;
    if (!conn || !conn.nodes.some((n) => n.id === node)) throw new AgentCommandError(`the agent of node ${node} is not connected`, true);
    const id = `c${toBase64Url(randomBytes(9))}`;
    const result = await new Promise<ResultMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        conn.pending.delete(id);
        reject(new AgentCommandError(`${op} on ${node} timed out after ${Math.round(timeoutMs / 1000)} s`, true));
      }, timeoutMs);
      conn.pending.set(id, { resolve, reject, timer });
      this.send(conn.ws, { type: 'command', id, op, vm: { ...vm, node } });
    });
    if (!result.ok) throw new AgentCommandError(`${op} on ${node}: ${result.error ?? 'the agent refused'}`, op === 'deploy');
    // Only a deploy's address is stored and handed to the customer; a destroy must go through whatever it answers.
    const why = op === 'deploy' ? vmAddressRefusal(node, vm.id, result.vm?.myceliumIp ?? '', this.deps.store.agents.get(conn.agent)?.subnets ?? []) : null;
    if (why !== null) {
      this.note({ atMs: this.deps.clock.nowMs(), event: 'agent.bad_vm_address', detail: why, agent: conn.agent, node, deployment: vm.id });
      throw new AgentCommandError(why, true);
    }
    return result;
  }

  /** Sends a capacity request to a farmer's agent, for it to bid on; false when the agent is not connected. */
  sendCapacityRequest(farmer: string, request: CapacityRequest): boolean {
    const conn = this.connections.get(farmer);
    if (!conn || conn.ws.readyState !== conn.ws.OPEN) return false;
    this.send(conn.ws, { type: 'capacity-request', request });
    return true;
  }

  /** Tells the agents of these nodes which VMs to probe (after a deploy or destroy). */
  refreshAssignments(nodes: readonly string[]): void {
    const agents = new Set(nodes.map((n) => this.farmerOf(n)).filter((a): a is string => a !== undefined));
    for (const agent of agents) {
      const conn = this.connections.get(agent);
      if (!conn) continue;
      const vms = this.deps.assignmentsFor(conn.nodes.map((n) => n.id));
      conn.assigned = new Map(vms.map((v) => [v.id, v.node]));
      this.send(conn.ws, { type: 'vms', vms });
    }
  }

  /** Asks the receipt's farmer to countersign it (now, or when its agent reconnects). */
  requestCountersign(receipt: Receipt): void {
    const conn = this.connections.get(receipt.farmer);
    if (conn) {
      this.send(conn.ws, { type: 'countersign', receipt });
      return;
    }
    const list = this.pendingCountersigns.get(receipt.farmer) ?? [];
    list.push(receipt);
    if (list.length > MAX_PENDING_COUNTERSIGNS) list.shift();
    this.pendingCountersigns.set(receipt.farmer, list);
  }

  /**
   * Asks a farmer for one countersignature over its receipts of a period (sent in chunks of
   * MAX_RECEIPTS_PER_BATCH_MESSAGE), now or when its agent reconnects.
   */
  requestBatchCountersign(farmer: string, head: SignedTreeHead, receipts: readonly ReceiptBodyV2[]): void {
    const conn = this.connections.get(farmer);
    if (conn) {
      this.sendBatch(conn.ws, head, receipts);
      return;
    }
    const list = this.pendingBatches.get(farmer) ?? [];
    list.push({ head, receipts });
    if (list.length > MAX_PENDING_BATCHES) list.shift();
    this.pendingBatches.set(farmer, list);
  }

  private sendBatch(ws: WebSocket, head: SignedTreeHead, receipts: readonly ReceiptBodyV2[]): void {
    for (let offset = 0; offset < receipts.length; offset += MAX_RECEIPTS_PER_BATCH_MESSAGE) {
      this.send(ws, { type: 'countersign-batch', treeHead: head, total: receipts.length, offset, receipts: receipts.slice(offset, offset + MAX_RECEIPTS_PER_BATCH_MESSAGE) });
    }
  }

  /**
   * Makes every heartbeat before `closedThroughMs` durable: stores each agent's chain at its
   * last such heartbeat, and the up-time carry-over; then acknowledges them to the agents,
   * which may forget them. Called after the period's receipts are on disk.
   */
  async persist(closedThroughMs: number): Promise<void> {
    const acks: Array<[string, number]> = [];
    const writes: Promise<void>[] = [];
    for (const [agent, chain] of this.chains) {
      const durable = chain.closeThrough(closedThroughMs);
      if (!durable) continue;
      writes.push(this.deps.store.chains.put(agent, { agent, seq: durable.seq, head: durable.head }));
      acks.push([agent, durable.seq]);
    }
    writes.push(this.deps.store.meta.put('uptimeCarry', this.deps.uptime.carryOver(closedThroughMs)));
    await Promise.all(writes);
    this.deps.uptime.prune(closedThroughMs);
    for (const [agent, seq] of acks) {
      const conn = this.connections.get(agent);
      if (conn) this.send(conn.ws, { type: 'ack', seq });
    }
    const keepFrom = closedThroughMs - 4 * this.deps.periodMs;
    for (const byPeriod of this.heads.values()) for (const start of byPeriod.keys()) if (start < keepFrom) byPeriod.delete(start);
  }

  /** Closes an agent's connection (it was revoked). */
  disconnect(agent: string, reason: string): void {
    this.connections.get(agent)?.ws.close(CLOSE.notApproved, truncate(reason));
  }

  /** Closes every connection (waiting up to 2 s for agents to say goodbye), before the logs it writes to close. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pinger);
    const closed = [...this.connections.values()].map(
      (c) =>
        new Promise<void>((resolve) => {
          c.ws.once('close', () => resolve());
          c.ws.close(CLOSE.shuttingDown, 'gateway shutting down');
        }),
    );
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 2000).unref())]);
    for (const c of this.connections.values()) c.ws.terminate();
    this.wss.close();
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    let remote: Uint8Array | null = null;
    try {
      remote = parseIpv6(req.socket.remoteAddress ?? '');
    } catch {
      remote = null;
    }
    if (path !== '/v1/agent' || remote === null || !isMyceliumBytes(remote)) {
      socket.end(`HTTP/1.1 ${path !== '/v1/agent' ? '404 Not Found' : '403 Forbidden'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const refused = this.deps.origin?.check(guardedRequest('WEBSOCKET', req.headers));
    if (refused) {
      const body = JSON.stringify(errorBody(refused));
      socket.end(`HTTP/1.1 ${refused.status} ${refused.code}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      return;
    }
    const address = formatIpv6(remote);
    const subnet = subnet64Of(remote);
    const wait = this.deps.upgrades?.take(subnet) ?? 0;
    if (wait > 0) {
      socket.end(`HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\nretry-after: ${wait}\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.handshake(ws, address, subnet));
  }

  private handshake(ws: WebSocket, address: string, subnet: string): void {
    const nonce = toBase64Url(randomBytes(18));
    const timer = setTimeout(() => ws.close(CLOSE.authTimeout, 'no hello within 10 s'), AUTH_TIMEOUT_MS);
    ws.once('message', (data) => {
      clearTimeout(timer);
      let hello: AgentMessage;
      try {
        hello = parseAgentMessage(messageText(data));
      } catch (err) {
        ws.close(CLOSE.badMessage, truncate(`bad hello: ${errorMessage(err)}`));
        return;
      }
      if (hello.type !== 'hello') {
        ws.close(CLOSE.badMessage, 'the first message must be a hello');
        return;
      }
      void this.admit(ws, hello, nonce, address, subnet).catch((err: unknown) => {
        this.deps.log.error({ err }, 'agent.admit failed');
        ws.close(1011, 'internal error');
      });
    });
    ws.on('error', () => undefined);
    this.send(ws, { type: 'challenge', nonce, gateway: this.deps.identity.agent, atMs: this.deps.clock.nowMs() });
  }

  private async admit(ws: WebSocket, hello: HelloMessage, nonce: string, address: string, subnet: string): Promise<void> {
    const refuse = async (code: number, reason: string, event: EventName): Promise<void> => {
      await this.deps.events.record({ atMs: this.deps.clock.nowMs(), event, detail: `${reason} (from ${address})`, agent: hello.agent, data: { subnet } });
      ws.close(code, truncate(reason));
    };
    let key: Uint8Array;
    let signature: Uint8Array;
    try {
      key = decodeAgentPubKey(hello.agent);
      signature = fromBase64('signature', hello.signature, 64);
    } catch (err) {
      return refuse(CLOSE.authFailed, `bad hello: ${errorMessage(err)}`, 'agent.refused');
    }
    const nodeIds = hello.nodes.map((n) => n.id);
    const statement = { agent: hello.agent, gateway: this.deps.identity.agent, nonce, nodes: nodeIds };
    if (!verifyJsonStatement(signature, AGENT_AUTH_PURPOSE, statement, key)) {
      return refuse(CLOSE.authFailed, 'the hello signature does not verify for this agent key and challenge', 'agent.refused');
    }
    const approval = this.deps.store.agents.get(hello.agent);
    if (!approval || approval.state === 'pending') {
      const outcome = await this.requests.request(hello.agent, subnet, nodeIds, this.deps.clock.nowMs());
      const waiting = `agent ${hello.agent} is not approved yet; an admin must approve it (POST /admin/api/agents/${hello.agent}/approve)`;
      // Only a new request goes on the timeline: a pending agent retrying, or a flood of refused
      // hellos, would otherwise grow events.log without bound.
      if (outcome.kind === 'stored') return refuse(CLOSE.notApproved, waiting, 'agent.pending');
      if (outcome.kind === 'refused') this.deps.log.warn({ agent: hello.agent, subnet, limit: outcome.limit }, 'agent request refused: %s', outcome.reason);
      ws.close(CLOSE.notApproved, truncate(outcome.kind === 'refused' ? outcome.reason : waiting));
      return;
    }
    if (approval.state === 'revoked') return refuse(CLOSE.notApproved, `agent ${hello.agent} was revoked by an admin`, 'agent.refused');
    if (!approval.subnets.some((s) => sameSubnet64(s, subnet))) {
      return refuse(CLOSE.notApproved, `connection from ${subnet}, which is not a /64 registered for this agent (${approval.subnets.join(', ')})`, 'agent.refused');
    }
    const foreign = nodeIds.filter((n) => !approval.nodes.includes(n));
    if (foreign.length > 0) return refuse(CLOSE.notApproved, `agent is not approved for node(s) ${foreign.join(', ')}`, 'agent.refused');
    const old = this.connections.get(hello.agent);
    if (old) old.ws.close(CLOSE.replaced, 'replaced by a newer connection of the same agent');
    const vms = this.deps.assignmentsFor(nodeIds);
    const conn: Connection = { ws, agent: hello.agent, address, nodes: hello.nodes, connectedAtMs: this.deps.clock.nowMs(), pending: new Map(), assigned: new Map(vms.map((v) => [v.id, v.node])), heard: true, pinged: false };
    this.connections.set(hello.agent, conn);
    const chain = this.chainOf(hello.agent);
    const durable = this.deps.store.chains.get(hello.agent);
    ws.on('message', (data) => {
      conn.heard = true;
      this.onMessage(conn, messageText(data));
    });
    ws.on('pong', () => (conn.heard = true));
    ws.on('close', () => {
      for (const p of conn.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new AgentCommandError('the agent disconnected', true));
      }
      if (this.connections.get(hello.agent) === conn) this.connections.delete(hello.agent);
      if (!this.closing) this.note({ atMs: this.deps.clock.nowMs(), event: 'agent.disconnected', detail: 'agent disconnected', agent: hello.agent });
    });
    this.send(ws, {
      type: 'welcome',
      agent: hello.agent,
      resumeFromSeq: chain.seq + 1,
      head: chain.head,
      ackedSeq: durable?.seq ?? 0,
      heartbeatIntervalMs: this.deps.heartbeatIntervalMs,
      periodMs: this.deps.periodMs,
      vms,
    });
    const waiting = this.pendingCountersigns.get(hello.agent) ?? [];
    this.pendingCountersigns.delete(hello.agent);
    for (const receipt of waiting) this.send(ws, { type: 'countersign', receipt });
    const batches = this.pendingBatches.get(hello.agent) ?? [];
    this.pendingBatches.delete(hello.agent);
    for (const b of batches) this.sendBatch(ws, b.head, b.receipts);
    await this.deps.events.record({ atMs: this.deps.clock.nowMs(), event: 'agent.connected', detail: `agent connected from ${address} for ${nodeIds.join(', ')}`, agent: hello.agent });
    this.deps.log.info({ agent: hello.agent, address, nodes: nodeIds, resumeFromSeq: chain.seq + 1 }, 'agent connected');
  }

  private onMessage(conn: Connection, text: string): void {
    let m: AgentMessage;
    try {
      m = parseAgentMessage(text);
    } catch (err) {
      const field = err instanceof ValidationError ? err.message : 'unreadable';
      this.note({ atMs: this.deps.clock.nowMs(), event: 'agent.bad_message', detail: field, agent: conn.agent });
      conn.ws.close(CLOSE.badMessage, truncate(`bad message: ${field}`));
      return;
    }
    switch (m.type) {
      case 'heartbeat':
        this.onHeartbeat(conn, m);
        return;
      case 'chain-head':
        this.onChainHead(conn, m);
        return;
      case 'result': {
        const p = conn.pending.get(m.id);
        if (p) {
          clearTimeout(p.timer);
          conn.pending.delete(m.id);
          p.resolve(m);
        }
        return;
      }
      case 'countersigned':
        this.deps.signals.emit('countersign', m.receiptId, conn.agent, { signature: m.signature });
        return;
      case 'countersign-refused':
        this.deps.signals.emit('countersign', m.receiptId, conn.agent, { reason: m.reason });
        return;
      case 'batch-countersigned':
        this.deps.signals.emit('batchCountersign', m.treeHead, conn.agent, { size: m.size, root: m.root, signature: m.signature, refused: m.refused });
        return;
      case 'batch-countersign-refused':
        this.deps.signals.emit('batchCountersign', m.treeHead, conn.agent, { reason: m.reason });
        return;
      case 'vm-login':
        this.deps.signals.emit('vmLogin', conn.agent, m.vm, m.keyFingerprint);
        return;
      case 'bid':
        this.deps.signals.emit('bid', conn.agent, conn.nodes.map((n) => n.id), m.bid);
        return;
      case 'hello':
        conn.ws.close(CLOSE.badMessage, 'hello was already received');
    }
  }

  private onHeartbeat(conn: Connection, hb: HeartbeatMessage): void {
    const now = this.deps.clock.nowMs();
    const step = this.chainOf(conn.agent).accept(hb, { closedThroughMs: this.deps.closedThroughMs(), nowMs: now });
    if (step.kind === 'replay') {
      if (step.mismatch) this.disagree(conn.agent, 'agent.chain_mismatch', `heartbeat ${hb.seq} was sent again with different content (a forged or reordered chain)`, { seq: hb.seq });
      return;
    }
    if (step.gapFrom !== undefined) {
      this.disagree(conn.agent, 'agent.chain_gap', `heartbeats ${step.gapFrom}..${hb.seq - 1} never arrived (the agent's buffer overflowed, or the chain was reordered)`, { expected: step.gapFrom, got: hb.seq });
    } else if (step.mismatch) {
      this.disagree(conn.agent, 'agent.chain_mismatch', `heartbeat ${hb.seq} names a previous head that is not the gateway's: the chain was forged or reordered`, { seq: hb.seq });
    }
    conn.lastHeartbeatAtMs = now;
    this.deps.signals.emit('heartbeat', conn.agent);
    if (hb.atMs > now + 2 * this.deps.heartbeatIntervalMs) {
      this.disagree(conn.agent, 'agent.clock_skew', `heartbeat ${hb.seq} is stamped ${Math.round((hb.atMs - now) / 1000)} s in the future; not counted`, { seq: hb.seq });
      return;
    }
    if (hb.atMs < this.deps.closedThroughMs()) return;
    const mine = this.nodeIdsOf(conn.nodes);
    const nodeUp = new Map<string, boolean>();
    for (const n of hb.nodes) {
      if (!mine.has(n.id)) continue;
      nodeUp.set(n.id, n.up);
      this.deps.uptime.record(`node:${n.id}`, { atMs: hb.atMs, up: n.up });
    }
    for (const v of hb.vms) {
      const node = conn.assigned.get(v.id);
      if (node === undefined) continue;
      this.deps.uptime.record(`vm:${v.id}`, { atMs: hb.atMs, up: v.reachable && nodeUp.get(node) === true });
    }
  }

  /** A connection's node ids as a set, made once per hello rather than per heartbeat. */
  private nodeIdsOf(nodes: readonly HelloNode[]): ReadonlySet<string> {
    let ids = this.nodeIdSets.get(nodes);
    if (!ids) {
      ids = new Set(nodes.map((n) => n.id));
      this.nodeIdSets.set(nodes, ids);
    }
    return ids;
  }

  private onChainHead(conn: Connection, m: ChainHeadMessage): void {
    // Only whole periods from the ones still kept (see persist) up to now: any other start would be a
    // new entry of `heads` that is never pruned. Old ones are what an agent replays after an outage.
    const periodMs = this.deps.periodMs;
    const now = this.deps.clock.nowMs();
    if (m.periodStartMs % periodMs !== 0 || m.periodEndMs !== m.periodStartMs + periodMs || m.periodStartMs > now) {
      this.disagree(conn.agent, 'agent.chain_head_mismatch', `the chain head for seq ${m.seq} names ${m.periodStartMs}..${m.periodEndMs}, which is not a period up to now`, { seq: m.seq });
      return;
    }
    if (m.periodStartMs < this.deps.closedThroughMs() - 4 * periodMs) return;
    let sig: Uint8Array;
    try {
      sig = fromBase64('signature', m.signature, 64);
    } catch {
      this.disagree(conn.agent, 'agent.chain_head_mismatch', `the chain head for seq ${m.seq} has an unreadable signature`, { seq: m.seq });
      return;
    }
    const statement = { agent: conn.agent, gateway: this.deps.identity.agent, periodStartMs: m.periodStartMs, periodEndMs: m.periodEndMs, seq: m.seq, head: m.head };
    if (!verifyJsonStatement(sig, CHAIN_HEAD_PURPOSE, statement, decodeAgentPubKey(conn.agent))) {
      this.disagree(conn.agent, 'agent.chain_head_mismatch', `the chain-head signature for seq ${m.seq} does not verify`, { seq: m.seq });
      return;
    }
    const chain = this.chainOf(conn.agent);
    const durable = this.deps.store.chains.get(conn.agent);
    const ours = chain.headAt(m.seq) ?? (durable?.seq === m.seq ? durable.head : undefined);
    if (ours !== undefined && ours !== m.head) {
      this.disagree(conn.agent, 'agent.chain_head_mismatch', `the agent signed head ${m.head.slice(0, 12)}… for seq ${m.seq}, the gateway has ${ours.slice(0, 12)}…`, { seq: m.seq });
      return;
    }
    const byPeriod = this.heads.get(conn.agent) ?? new Map<number, ReceiptAgentHead>();
    byPeriod.set(m.periodStartMs, { periodStartMs: m.periodStartMs, periodEndMs: m.periodEndMs, seq: m.seq, head: m.head, signature: m.signature });
    this.heads.set(conn.agent, byPeriod);
  }

  private disagree(agent: string, event: EventName, detail: string, data: Record<string, unknown>): void {
    this.deps.log.warn({ agent, event, ...data }, detail);
    this.note({ atMs: this.deps.clock.nowMs(), event, detail, agent, data });
  }

  /** Records an event without waiting; a failure to record is logged, never an unhandled rejection. */
  private note(event: TimelineEvent): void {
    this.deps.events.record(event).catch((err: unknown) => this.deps.log.warn({ err, event: event.event }, 'agent hub: could not record an event'));
  }

  private chainOf(agent: string): HeartbeatChain {
    let chain = this.chains.get(agent);
    if (!chain) {
      chain = HeartbeatChain.genesis(this.deps.periodMs);
      this.chains.set(agent, chain);
    }
    return chain;
  }

  private send(ws: WebSocket, message: GatewayMessage): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  }

  /**
   * Every PING_EVERY_MS: a connection that neither sent a message since the last round nor
   * answered the ping sent then is dead, and ended. One that sent a message (a heartbeat, every
   * interval) is alive and is not pinged this round: with thousands of agents the pings and pongs
   * were ~15% of the gateway's CPU while ingesting heartbeats (bench/agents --cpu-prof). A silent
   * connection is pinged, and ended a round later without a pong: found dead within 20-60 s
   * (20-40 s when every connection was pinged every round).
   */
  private ping(): void {
    for (const c of this.connections.values()) {
      if (c.heard) {
        c.heard = false;
        c.pinged = false;
      } else if (c.pinged) {
        c.ws.terminate();
      } else {
        c.pinged = true;
        c.ws.ping();
      }
    }
  }
}

/** Verifies a farmer's countersignature of a receipt. */
export function verifyCountersignature(receipt: Receipt, signature: string): boolean {
  try {
    return verify(fromBase64('signature', signature, 64), receiptSigningBytes(receipt), decodeAgentPubKey(receipt.farmer));
  } catch {
    return false;
  }
}

function truncate(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  return bytes.length <= 120 ? reason : bytes.subarray(0, 117).toString('utf8') + '...';
}
