// The gateway's side of `/v1/agent`: wires admission, heartbeat chains, signed chain heads, commands and countersign requests to the agents' connections, and records up-time.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Identity } from '../../identity/index.js';
import {
  CLOSE,
  ValidationError,
  messageText,
  parseAgentMessage,
  readHeartbeatFrame,
  type AgentMessage,
  type CapacityRequest,
  type CommandOp,
  type HeartbeatMessage,
  type HelloMessage,
  type Receipt,
  type ChainHeadMessage,
  type ReceiptAgentHead,
  type ReceiptBodyV2,
  type ResultMessage,
  type SignedBid,
  type SignedTreeHead,
  type VmAssignment,
} from '../../protocol/index.js';
import type { Clock } from '../../protocol/clock.js';
import type { Emits } from '../../protocol/typed-emitter.js';
import type { EventSink, TimelineEvent } from '../events/event-log.js';
import type { EventName } from '../events/event-catalogue.js';
import type { Store } from '../store/store.js';
import type { UptimeBook } from '../uptime/uptime-book.js';
import type { OriginPolicy } from '../http/origin-guard.js';
import type { RateLimiter } from '../limits/rate-limiter.js';
import { MISSED_HEARTBEATS_FOR_DOWN, type Sample } from '../../protocol/uptime.js';
import type { AgentRequestPolicy } from './agent-requests.js';
import { vmAddressRefusal } from './vm-address.js';
import { HeartbeatChain } from './heartbeat-chain.js';
import { HeartbeatSamples } from './heartbeat-samples.js';
import { AgentAdmission } from './agent-admission.js';
import { closeReason, sendMessage, type AgentView, type Connection, type NodeView } from './agent-connection.js';
import { AgentCommandError, callAgent, failPendingCommands, settleCommand, type CommandVm } from './agent-commands.js';
import { CountersignQueue } from './countersign-queue.js';
import { SignedChainHeads } from './signed-chain-heads.js';

export type { AgentView, NodeView } from './agent-connection.js';
export { AgentCommandError } from './agent-commands.js';
export { verifyCountersignature } from './countersignature.js';

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

const PING_EVERY_MS = 20_000;

/**
 * The agents' connections, one per agent, admitted by AgentAdmission; then their heartbeats
 * (chained per agent, recorded as up-time), signed chain heads, command results and
 * countersignatures.
 */
export class AgentHub {
  private readonly connections = new Map<string, Connection>();
  private readonly chains = new Map<string, HeartbeatChain>();
  private readonly heads = new SignedChainHeads();
  private readonly countersigns = new CountersignQueue();
  private readonly admission: AgentAdmission;
  private readonly pinger: NodeJS.Timeout;
  private closing = false;

  constructor(private readonly deps: AgentHubDeps) {
    this.admission = new AgentAdmission(deps, (ws, hello, address) => this.connected(ws, hello, address));
    for (const c of deps.store.chains.values()) this.chains.set(c.agent, new HeartbeatChain(c.seq, c.head, deps.periodMs));
    const carry = deps.store.meta.get('uptimeCarry');
    if (carry && typeof carry === 'object') deps.uptime.restore(carry as Record<string, Sample>);
    this.pinger = setInterval(() => this.ping(), PING_EVERY_MS);
    this.pinger.unref();
  }

  /** Handles WebSocket upgrades for /v1/agent on the gateway's HTTP server. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.admission.upgrade(req, socket, head));
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
    return { periods: this.chains.get(agent)?.openPeriods ?? 0, heads: this.heads.count(agent) };
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
    return this.heads.get(agent, periodStartMs);
  }

  /** Sends a command for a VM on `node` to its agent and waits for the result. */
  async command(node: string, op: CommandOp, vm: CommandVm, timeoutMs: number): Promise<ResultMessage> {
    const farmer = this.farmerOf(node);
    const conn = farmer ? this.connections.get(farmer) : undefined;
    if (!conn || !conn.nodes.some((n) => n.id === node)) throw new AgentCommandError(`the agent of node ${node} is not connected`, true);
    const result = await callAgent(conn, node, op, vm, timeoutMs);
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
    sendMessage(conn.ws, { type: 'capacity-request', request });
    return true;
  }

  /** Tells the agents of these nodes which VMs to probe (after a deploy or destroy). */
  refreshAssignments(nodes: readonly string[]): void {
    const agents = new Set(nodes.map((n) => this.farmerOf(n)).filter((a): a is string => a !== undefined));
    for (const agent of agents) {
      const conn = this.connections.get(agent);
      if (!conn) continue;
      const vms = this.deps.assignmentsFor(conn.nodes.map((n) => n.id));
      conn.samples.assign(vms);
      sendMessage(conn.ws, { type: 'vms', vms });
    }
  }

  /** Asks the receipt's farmer to countersign it (now, or when its agent reconnects). */
  requestCountersign(receipt: Receipt): void {
    this.countersigns.request(this.connections.get(receipt.farmer)?.ws, receipt);
  }

  /**
   * Asks a farmer for one countersignature over its receipts of a period (sent in chunks of
   * MAX_RECEIPTS_PER_BATCH_MESSAGE), now or when its agent reconnects.
   */
  requestBatchCountersign(farmer: string, head: SignedTreeHead, receipts: readonly ReceiptBodyV2[]): void {
    this.countersigns.requestBatch(this.connections.get(farmer)?.ws, farmer, head, receipts);
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
      if (conn) sendMessage(conn.ws, { type: 'ack', seq });
    }
    this.heads.prune(closedThroughMs, this.deps.periodMs);
  }

  /** Closes an agent's connection (it was revoked). */
  disconnect(agent: string, reason: string): void {
    this.connections.get(agent)?.ws.close(CLOSE.notApproved, closeReason(reason));
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
    this.admission.close();
  }

  /** Takes an admitted agent's connection (replacing an older one of the same agent): welcome, waiting countersign requests, then its messages. */
  private async connected(ws: WebSocket, hello: HelloMessage, address: string): Promise<void> {
    const nodeIds = hello.nodes.map((n) => n.id);
    const old = this.connections.get(hello.agent);
    if (old) old.ws.close(CLOSE.replaced, 'replaced by a newer connection of the same agent');
    const vms = this.deps.assignmentsFor(nodeIds);
    const conn: Connection = { ws, agent: hello.agent, address, nodes: hello.nodes, connectedAtMs: this.deps.clock.nowMs(), pending: new Map(), samples: new HeartbeatSamples(hello.nodes, vms), heard: true, pinged: false };
    this.connections.set(hello.agent, conn);
    const chain = this.chainOf(hello.agent);
    const durable = this.deps.store.chains.get(hello.agent);
    ws.on('message', (data) => {
      conn.heard = true;
      // A heartbeat in the agents' own form is read and hashed from the frame's bytes; any other message, or form, by the full reader.
      const beat = Buffer.isBuffer(data) ? readHeartbeatFrame(data) : undefined;
      if (beat !== undefined) this.onHeartbeat(conn, beat.message, beat.head);
      else this.onMessage(conn, messageText(data));
    });
    ws.on('pong', () => (conn.heard = true));
    ws.on('close', () => {
      failPendingCommands(conn);
      if (this.connections.get(hello.agent) === conn) this.connections.delete(hello.agent);
      if (!this.closing) this.note({ atMs: this.deps.clock.nowMs(), event: 'agent.disconnected', detail: disconnectDetail(conn), agent: hello.agent });
    });
    sendMessage(ws, {
      type: 'welcome',
      agent: hello.agent,
      resumeFromSeq: chain.seq + 1,
      head: chain.head,
      ackedSeq: durable?.seq ?? 0,
      heartbeatIntervalMs: this.deps.heartbeatIntervalMs,
      periodMs: this.deps.periodMs,
      vms,
    });
    this.countersigns.flush(hello.agent, ws);
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
      conn.ws.close(CLOSE.badMessage, closeReason(`bad message: ${field}`));
      return;
    }
    switch (m.type) {
      case 'heartbeat':
        this.onHeartbeat(conn, m);
        return;
      case 'chain-head':
        this.onChainHead(conn, m);
        return;
      case 'result':
        settleCommand(conn, m);
        return;
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

  /** `head`: the heartbeat's chain head when its reader hashed it already (readHeartbeatFrame). */
  private onHeartbeat(conn: Connection, hb: HeartbeatMessage, head?: string): void {
    const now = this.deps.clock.nowMs();
    const closedThroughMs = this.deps.closedThroughMs();
    const chain = this.chainOf(conn.agent);
    const window = { closedThroughMs, nowMs: now };
    const step = chain.accept(hb, window, head);
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
    if (hb.atMs < closedThroughMs) return;
    conn.lastHeartbeatStampMs = hb.atMs;
    conn.samples.record(hb, this.deps.uptime);
  }

  private onChainHead(conn: Connection, m: ChainHeadMessage): void {
    const chain = this.chainOf(conn.agent);
    const durable = this.deps.store.chains.get(conn.agent);
    const refused = this.heads.take(conn.agent, m, {
      gateway: this.deps.identity.agent,
      periodMs: this.deps.periodMs,
      nowMs: this.deps.clock.nowMs(),
      closedThroughMs: this.deps.closedThroughMs(),
      headAt: (seq) => chain.headAt(seq) ?? (durable?.seq === seq ? durable.head : undefined),
    });
    if (refused) this.disagree(conn.agent, refused.event, refused.detail, refused.data);
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

/** What an operator reading the timeline needs of a disconnect: where the agent's evidence ends (its last heartbeat's own stamp). */
function disconnectDetail(conn: Connection): string {
  return conn.lastHeartbeatStampMs === undefined ? 'agent disconnected; no heartbeat counted on this connection' : `agent disconnected; its last heartbeat was stamped ${new Date(conn.lastHeartbeatStampMs).toISOString()}`;
}
