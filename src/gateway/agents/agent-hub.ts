// The gateway's side of `/v1/agent`: authenticates farmer agents, checks their heartbeat chains, records up-time, and sends them commands.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
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
  GENESIS_HEAD,
  ValidationError,
  chainNext,
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
  type ResultMessage,
  type VmAssignment,
} from '../../protocol/index.js';
import type { Clock } from '../../protocol/clock.js';
import type { EventSink, TimelineEvent } from '../events/event-log.js';
import type { Store } from '../store/store.js';
import type { UptimeBook } from '../uptime/uptime-book.js';
import { MISSED_HEARTBEATS_FOR_DOWN, type Sample } from '../../protocol/uptime.js';
import { AgentRequests, type AgentRequestPolicy } from './agent-requests.js';
import { vmAddressRefusal } from './vm-address.js';

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
  /** A farmer countersigned (signature) or refused (reason) a receipt. */
  onCountersign(receiptId: string, agent: string, result: { signature: string } | { reason: string }): void;
  /** A heartbeat was ingested (for metrics). */
  onHeartbeat?(agent: string): void;
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

interface LiveChain {
  seq: number;
  head: string;
  /** The heads of the last RECENT_HEADS heartbeats by seq: a heartbeat sent again is checked against them. */
  readonly recent: Map<number, string>;
  /** Each open period's last heartbeat (by period index): all that a period close and a chain-head check need. */
  readonly periodLast: Map<number, { seq: number; head: string }>;
}

/** Heads kept to check resent heartbeats: an agent replays at most what it buffered since the last acknowledgement. */
const RECENT_HEADS = 4096;

interface Connection {
  readonly ws: WebSocket;
  readonly agent: string;
  readonly address: string;
  readonly nodes: readonly HelloNode[];
  readonly connectedAtMs: number;
  lastHeartbeatAtMs?: number;
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

/**
 * One connection per agent: a challenge, a signed hello naming its nodes, then heartbeats.
 * Accepted only if the key is approved for those nodes (in the config, or by an admin after
 * the agent asked) and the connection comes from a /64 registered for it.
 */
export class AgentHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  private readonly connections = new Map<string, Connection>();
  private readonly chains = new Map<string, LiveChain>();
  private readonly heads = new Map<string, Map<number, ReceiptAgentHead>>();
  private readonly pendingCountersigns = new Map<string, Receipt[]>();
  private readonly pinger: NodeJS.Timeout;
  private readonly requests: AgentRequests;
  private closing = false;

  constructor(private readonly deps: AgentHubDeps) {
    this.requests = new AgentRequests(deps.store.agents, deps.agentRequests);
    for (const c of deps.store.chains.values()) this.chains.set(c.agent, { seq: c.seq, head: c.head, recent: new Map(), periodLast: new Map() });
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
      if ([...chain.periodLast.keys()].some((k) => k >= endIndex)) continue;
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
  async command(node: string, op: CommandOp, vm: { id: string; sshKeys?: readonly string[]; seedHex?: string }, timeoutMs: number): Promise<ResultMessage> {
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
   * Makes every heartbeat before `closedThroughMs` durable: stores each agent's chain at its
   * last such heartbeat, and the up-time carry-over; then acknowledges them to the agents,
   * which may forget them. Called after the period's receipts are on disk.
   */
  async persist(closedThroughMs: number): Promise<void> {
    const acks: Array<[string, number]> = [];
    const writes: Promise<void>[] = [];
    for (const [agent, chain] of this.chains) {
      let durable: { seq: number; head: string } | undefined;
      for (const [k, last] of chain.periodLast) {
        if ((k + 1) * this.deps.periodMs > closedThroughMs) continue;
        if (durable === undefined || last.seq > durable.seq) durable = last;
        chain.periodLast.delete(k);
      }
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
    const address = formatIpv6(remote);
    const subnet = subnet64Of(remote);
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
        ws.close(CLOSE.badMessage, truncate(`bad hello: ${(err as Error).message}`));
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
    const refuse = async (code: number, reason: string, event: string): Promise<void> => {
      await this.deps.events.record({ atMs: this.deps.clock.nowMs(), event, detail: `${reason} (from ${address})`, agent: hello.agent, data: { subnet } });
      ws.close(code, truncate(reason));
    };
    let key: Uint8Array;
    let signature: Uint8Array;
    try {
      key = decodeAgentPubKey(hello.agent);
      signature = fromBase64('signature', hello.signature, 64);
    } catch (err) {
      return refuse(CLOSE.authFailed, `bad hello: ${(err as Error).message}`, 'agent.refused');
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
    const conn: Connection = { ws, agent: hello.agent, address, nodes: hello.nodes, connectedAtMs: this.deps.clock.nowMs(), pending: new Map(), assigned: new Map(vms.map((v) => [v.id, v.node])) };
    this.connections.set(hello.agent, conn);
    const chain = this.chainOf(hello.agent);
    const durable = this.deps.store.chains.get(hello.agent);
    ws.on('message', (data) => this.onMessage(conn, messageText(data)));
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
        this.deps.onCountersign(m.receiptId, conn.agent, { signature: m.signature });
        return;
      case 'countersign-refused':
        this.deps.onCountersign(m.receiptId, conn.agent, { reason: m.reason });
        return;
      case 'hello':
        conn.ws.close(CLOSE.badMessage, 'hello was already received');
    }
  }

  private onHeartbeat(conn: Connection, hb: HeartbeatMessage): void {
    const chain = this.chainOf(conn.agent);
    const now = this.deps.clock.nowMs();
    if (hb.seq <= chain.seq) {
      // A heartbeat sent again (a replay after reconnecting) must be the same one: same previous head, same content.
      const known = chain.recent.get(hb.seq);
      if (known !== undefined && chainNext(hb.prev, hb) !== known) {
        this.disagree(conn.agent, 'agent.chain_mismatch', `heartbeat ${hb.seq} was sent again with different content (a forged or reordered chain)`, { seq: hb.seq });
      }
      return;
    }
    if (hb.seq !== chain.seq + 1) {
      this.disagree(conn.agent, 'agent.chain_gap', `heartbeats ${chain.seq + 1}..${hb.seq - 1} never arrived (the agent's buffer overflowed, or the chain was reordered)`, { expected: chain.seq + 1, got: hb.seq });
    } else if (hb.prev !== chain.head) {
      this.disagree(conn.agent, 'agent.chain_mismatch', `heartbeat ${hb.seq} names a previous head that is not the gateway's: the chain was forged or reordered`, { seq: hb.seq });
    }
    const head = chainNext(hb.prev, hb);
    chain.seq = hb.seq;
    chain.head = head;
    chain.recent.set(hb.seq, head);
    if (chain.recent.size > RECENT_HEADS) chain.recent.delete(chain.recent.keys().next().value as number);
    chain.periodLast.set(Math.floor(hb.atMs / this.deps.periodMs), { seq: hb.seq, head });
    conn.lastHeartbeatAtMs = now;
    this.deps.onHeartbeat?.(conn.agent);
    if (hb.atMs > now + 2 * this.deps.heartbeatIntervalMs) {
      this.disagree(conn.agent, 'agent.clock_skew', `heartbeat ${hb.seq} is stamped ${Math.round((hb.atMs - now) / 1000)} s in the future; not counted`, { seq: hb.seq });
      return;
    }
    if (hb.atMs < this.deps.closedThroughMs()) return;
    const mine = new Set(conn.nodes.map((n) => n.id));
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

  private onChainHead(conn: Connection, m: ChainHeadMessage): void {
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
    const ours = chain.recent.get(m.seq) ?? [...chain.periodLast.values()].find((p) => p.seq === m.seq)?.head ?? (durable?.seq === m.seq ? durable.head : undefined);
    if (ours !== undefined && ours !== m.head) {
      this.disagree(conn.agent, 'agent.chain_head_mismatch', `the agent signed head ${m.head.slice(0, 12)}… for seq ${m.seq}, the gateway has ${ours.slice(0, 12)}…`, { seq: m.seq });
      return;
    }
    const byPeriod = this.heads.get(conn.agent) ?? new Map<number, ReceiptAgentHead>();
    byPeriod.set(m.periodStartMs, { periodStartMs: m.periodStartMs, periodEndMs: m.periodEndMs, seq: m.seq, head: m.head, signature: m.signature });
    this.heads.set(conn.agent, byPeriod);
  }

  private disagree(agent: string, event: string, detail: string, data: Record<string, unknown>): void {
    this.deps.log.warn({ agent, event, ...data }, detail);
    this.note({ atMs: this.deps.clock.nowMs(), event, detail, agent, data });
  }

  /** Records an event without waiting; a failure to record is logged, never an unhandled rejection. */
  private note(event: TimelineEvent): void {
    this.deps.events.record(event).catch((err: unknown) => this.deps.log.warn({ err, event: event.event }, 'agent hub: could not record an event'));
  }

  private chainOf(agent: string): LiveChain {
    let chain = this.chains.get(agent);
    if (!chain) {
      chain = { seq: 0, head: GENESIS_HEAD, recent: new Map(), periodLast: new Map() };
      this.chains.set(agent, chain);
    }
    return chain;
  }

  private send(ws: WebSocket, message: GatewayMessage): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  }

  private ping(): void {
    for (const c of this.connections.values()) {
      const ws = c.ws as WebSocket & { alive?: boolean };
      if (ws.alive === false) {
        ws.terminate();
        continue;
      }
      ws.alive = false;
      ws.once('pong', () => (ws.alive = true));
      ws.ping();
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
