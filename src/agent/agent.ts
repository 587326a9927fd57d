// The farmer's agent: connects to the gateway over Mycelium, reports node and VM up-time, keeps the evidence chain, runs VMs, countersigns receipts.
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { WebSocket } from 'ws';
import type { AgentLog } from './json-lines-logger.js';
import { errorMessage } from '../identity/error-message.js';
import { fromBase64, loadKeyFile, signJsonStatement, toBase64, writeSecureFile, type Identity } from '../identity/index.js';
import type { SealedSecret } from '../protocol/sealed-secret.js';
import {
  AGENT_AUTH_PURPOSE,
  CHAIN_HEAD_PURPOSE,
  CLOSE,
  ScaledClock,
  SystemClock,
  chainNext,
  countersignReceipt,
  messageText,
  parseGatewayMessage,
  upSeconds,
  verifyReceipt,
  type AgentMessage,
  type Clock,
  type CommandMessage,
  type HeartbeatMessage,
  type NodeReport,
  type Receipt,
  type ReceiptFields,
  type VmAssignment,
  type VmReport,
  type VmLoginMessage,
  type WelcomeMessage,
} from '../protocol/index.js';
import type { AgentConfig, AgentNode } from './config.js';
import { BatchCountersigner } from './batch-countersigner.js';
import { OutBuffer } from './out-buffer.js';
import { SampleLog } from './sample-log.js';
import { probeTcp, withLimit } from '../protocol/probe.js';
import { assertInsideLab } from './lab-vm/lab-only.js';
import type { VmDriver, VmSecretFile } from './vm-driver.js';
import type { Bidder } from './bidding/bidder.js';
import { optimiseFromNowOn } from './v8-tiering.js';

/**
 * ws is CommonJS: required rather than imported, so that Node does not scan its source for named
 * exports (cjs-module-lexer, optimised by TurboFan at start), which kept ~3 MiB of the agent's
 * resident memory (bench/README.md "Agent footprint").
 */
const { WebSocket: WebSocketClient } = createRequire(import.meta.url)('ws') as typeof import('ws');

/** What `status()` reports. */
export interface AgentStatus {
  readonly agent: string;
  readonly connected: boolean;
  readonly seq: number;
  readonly buffered: number;
  readonly dropped: number;
  readonly assignments: number;
}

interface SavedState {
  gatewayAgent?: string;
  assignments: VmAssignment[];
  heartbeatIntervalMs?: number;
  periodMs?: number;
}

/**
 * How long a connection may take from its start to the gateway's welcome: longer than the
 * gateway's own 10 s admission timeout (AUTH_TIMEOUT_MS in src/gateway/agents/agent-admission.ts), so
 * normally the gateway closes first. Without it a connection whose peer vanished mid-handshake
 * (no reset ever arrives, and the agent sends nothing before the welcome) was waited on forever.
 */
const WELCOME_TIMEOUT_MS = 15_000;

/**
 * Opens the secrets sealed to this agent's key (their X25519 form); the reason, naming the
 * secret but never its content, when one cannot be opened. Sealed boxes need libsodium, which
 * is loaded here, on the first order with secrets, so an agent that never gets one stays small.
 */
async function openSecrets(identity: Identity, secrets: readonly SealedSecret[]): Promise<VmSecretFile[] | string> {
  const { openSealed } = await import('../identity/sealed-box.js');
  const out: VmSecretFile[] = [];
  for (const s of secrets) {
    try {
      out.push({ name: s.name, data: openSealed(identity, fromBase64('box', s.box)) });
    } catch {
      return `secret ${s.name} was not sealed to this node's key (${identity.agent}), or was changed`;
    }
  }
  return out;
}

/** Logins kept for the next connection while the gateway is unreachable (the latest per VM). */
const MAX_PENDING_LOGINS = 1000;

/** Samples kept per VM for countersigning, in periods. */
const KEEP_PERIODS = 8;

/**
 * The agent. Heartbeats are produced on their own timer whether or not the gateway is
 * reachable: each is chained, written to the outbox, then sent if connected. On reconnect the
 * gateway says from which seq it needs them, and the agent replays from its outbox.
 */
export class Agent {
  private ws: WebSocket | null = null;
  private ready = false;
  /** Logins seen while not connected, by VM, sent after the next welcome. */
  private readonly logins = new Map<string, VmLoginMessage>();
  private closed = false;
  private attempt = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Which of `config.gateways` the next connection tries. */
  private gatewayIndex = 0;
  /** Whether this connection's failure already chose the next gateway (a standby's 503 named it). */
  private redirected = false;
  private lastHeartbeatAtMs: number | undefined;
  /** Each VM's samples (KEEP_PERIODS of them), packed: the agent's record that receipts are checked against. */
  private readonly samples = new Map<string, SampleLog>();
  private ticking: Promise<void> = Promise.resolve();
  private readonly batches: BatchCountersigner;
  private readonly bidder: Bidder | null;
  /** When this process started (clock ms): the samples in memory cover nothing before it. */
  private readonly startedAtMs: number;

  private constructor(
    private readonly config: AgentConfig,
    readonly identity: Identity,
    private readonly clock: Clock,
    private readonly buffer: OutBuffer,
    private readonly driver: VmDriver | null,
    private state: SavedState,
    private readonly log: AgentLog,
    bidderClass: typeof Bidder | null,
  ) {
    this.batches = new BatchCountersigner({
      farmer: identity.agent,
      secretKey: identity.secretKey,
      gateway: () => this.config.gatewayAgent ?? this.state.gatewayAgent,
      disagreement: (r) => this.disagreement(r),
      onLargeBatch: (total) => {
        if (optimiseFromNowOn()) log.info({ receipts: total }, "a countersign batch this large: V8's optimising compiler is on from now (about 3.5 MiB more memory, a fifth of the CPU per batch)");
      },
    });
    this.startedAtMs = clock.nowMs();
    this.bidder = config.bidding && bidderClass ? new bidderClass(config.bidding, { farmer: identity.agent, secretKey: identity.secretKey }, log) : null;
  }

  /** Loads the key and state, restores agent-run VMs, and starts heartbeating and connecting. */
  static async start(config: AgentConfig, log: AgentLog): Promise<Agent> {
    const vmNode = config.vmDriver ? (config.nodes.find((n) => n.id === config.vmDriver?.node) as AgentNode) : undefined;
    // Before anything else: the lab driver hands customers a shell on this host.
    if (vmNode) assertInsideLab(vmNode.subnet as string);
    const identity = loadKeyFile(config.keyFile);
    const clock: Clock = config.lab ? new ScaledClock(config.lab.epochMs, config.lab.hourSeconds) : new SystemClock();
    const buffer = new OutBuffer(join(config.stateDir, 'outbox'), config.bufferMaxHeartbeats);
    const statePath = join(config.stateDir, 'agent-state.json');
    const state = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as SavedState) : { assignments: [] };
    let driver: VmDriver | null = null;
    let agentRef: Agent | null = null;
    if (config.vmDriver && vmNode) {
      // VM users pass through the state folder to their homes under vms/; they list nothing, and its files are 0600.
      mkdirSync(config.stateDir, { recursive: true, mode: 0o711 });
      chmodSync(config.stateDir, 0o711);
      // Loaded only when this agent runs VMs itself: the lab driver pulls in ssh2 (about 5 MiB of RSS a production agent does not need).
      const { LabVmDriver } = await import('./lab-vm/driver.js');
      driver = new LabVmDriver({ stateDir: join(config.stateDir, 'vms'), nodeSubnet: vmNode.subnet as string, interfaceName: config.vmDriver.interfaceName, onLogin: (id, fp) => agentRef?.reportLogin(id, fp) });
      await driver.start();
    }
    // Loaded only when the farmer bids on capacity requests (config `bidding`): most agents never price a request.
    const bidderClass = config.bidding ? (await import('./bidding/bidder.js')).Bidder : null;
    const agent = new Agent(config, identity, clock, buffer, driver, state, log, bidderClass);
    agentRef = agent;
    const lastHeartbeat = buffer.replay(0).filter((m) => m.type === 'heartbeat').pop();
    if (lastHeartbeat?.type === 'heartbeat') agent.lastHeartbeatAtMs = lastHeartbeat.atMs;
    agent.scheduleHeartbeat(0);
    agent.connect();
    log.info({ agent: identity.agent, gateway: config.gateway, nodes: config.nodes.map((n) => n.id), seq: buffer.position().seq, buffered: buffer.size }, 'agent running');
    return agent;
  }

  status(): AgentStatus {
    return {
      agent: this.identity.agent,
      connected: this.ready,
      seq: this.buffer.position().seq,
      buffered: this.buffer.size,
      dropped: this.buffer.dropped,
      assignments: this.state.assignments.length,
    };
  }

  /** Stops heartbeats and the connection; agent-run VMs keep their state for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.ticking;
    this.ws?.close(1000, 'agent shutting down');
    await this.driver?.close();
    this.log.info('agent stopped');
  }

  private get intervalMs(): number {
    return this.state.heartbeatIntervalMs ?? this.config.heartbeatIntervalMs;
  }

  private scheduleHeartbeat(delayMs: number): void {
    if (this.closed) return;
    this.heartbeatTimer = setTimeout(() => {
      const started = Date.now();
      this.ticking = this.beat()
        .catch((err: unknown) => this.log.error({ err }, 'agent.heartbeat failed'))
        .finally(() => this.scheduleHeartbeat(Math.max(0, this.clock.toRealMs(this.intervalMs) - (Date.now() - started))));
    }, delayMs);
  }

  private async beat(): Promise<void> {
    const atMs = this.clock.nowMs();
    const periodMs = this.state.periodMs;
    if (periodMs && this.lastHeartbeatAtMs !== undefined && Math.floor(atMs / periodMs) > Math.floor(this.lastHeartbeatAtMs / periodMs)) {
      const start = Math.floor(this.lastHeartbeatAtMs / periodMs) * periodMs;
      this.signChainHead(start, start + periodMs);
    }
    const timeoutMs = Math.max(50, Math.min(3000, this.clock.toRealMs(this.intervalMs) * 0.8));
    const nodes: NodeReport[] = await Promise.all(this.config.nodes.map(async (n) => ({ id: n.id, up: n.check.kind === 'self' ? true : (await probeTcp(n.check.address, n.check.port, timeoutMs)).reachable })));
    const vms: VmReport[] = await withLimit(
      this.state.assignments.map((a) => async (): Promise<VmReport> => {
        const r = await probeTcp(a.myceliumIp, a.port, timeoutMs);
        return r.rttMicros === undefined ? { id: a.id, reachable: r.reachable } : { id: a.id, reachable: r.reachable, rttMicros: r.rttMicros };
      }),
      64,
    );
    if (this.closed) return;
    const pos = this.buffer.position();
    const message: HeartbeatMessage = { type: 'heartbeat', seq: pos.seq + 1, atMs, prev: pos.head, nodes, vms };
    const head = chainNext(pos.head, message);
    this.buffer.push(message, head);
    this.lastHeartbeatAtMs = atMs;
    this.remember(message);
    if (this.ready) this.send(message);
  }

  /**
   * Tells the gateway a key logged in to a VM (access escrow). Sent now when connected; else the
   * latest login per VM waits for the next connection, at most MAX_PENDING_LOGINS of them.
   */
  reportLogin(vmId: string, keyFingerprint: string): void {
    const message: VmLoginMessage = { type: 'vm-login', vm: vmId, keyFingerprint, atMs: this.clock.nowMs() };
    if (this.ready) {
      this.send(message);
      return;
    }
    this.logins.delete(vmId);
    if (this.logins.size >= MAX_PENDING_LOGINS) this.logins.delete(this.logins.keys().next().value as string);
    this.logins.set(vmId, message);
  }

  private signChainHead(periodStartMs: number, periodEndMs: number): void {
    const gateway = this.state.gatewayAgent ?? this.config.gatewayAgent;
    if (!gateway) return;
    const pos = this.buffer.position();
    const statement = { agent: this.identity.agent, gateway, periodStartMs, periodEndMs, seq: pos.seq, head: pos.head };
    const signature = toBase64(signJsonStatement(this.identity.secretKey, CHAIN_HEAD_PURPOSE, statement));
    const message = { type: 'chain-head' as const, periodStartMs, periodEndMs, seq: pos.seq, head: pos.head, signature };
    this.buffer.push(message);
    if (this.ready) this.send(message);
  }

  private remember(hb: HeartbeatMessage): void {
    const nodeUp = new Map(hb.nodes.map((n) => [n.id, n.up]));
    const byVm = new Map(this.state.assignments.map((a) => [a.id, a.node]));
    for (const v of hb.vms) {
      let log = this.samples.get(v.id);
      if (!log) {
        log = new SampleLog();
        this.samples.set(v.id, log);
      }
      log.push(hb.atMs, v.reachable && nodeUp.get(byVm.get(v.id) ?? '') === true);
    }
    const keepFrom = hb.atMs - KEEP_PERIODS * (this.state.periodMs ?? 3_600_000);
    for (const [id, log] of this.samples) {
      log.dropBefore(keepFrom);
      if (!byVm.has(id) && log.size > 0 && (log.lastAtMs as number) < keepFrom) this.samples.delete(id);
    }
  }

  private connect(): void {
    if (this.closed) return;
    const target = this.config.gateways[this.gatewayIndex % this.config.gateways.length] as string;
    const url = `${target.replace(/^http/, 'ws')}/v1/agent`;
    const ws = new WebSocketClient(url, { handshakeTimeout: 10_000, maxPayload: 4 * 1024 * 1024, ...(this.config.sourceAddress ? { localAddress: this.config.sourceAddress } : {}) });
    this.ws = ws;
    const admission = setTimeout(() => {
      if (this.ws !== ws || this.ready) return;
      this.log.warn({ timeoutMs: WELCOME_TIMEOUT_MS }, 'agent.connect: no welcome from the gateway in time; reconnecting');
      ws.terminate();
    }, WELCOME_TIMEOUT_MS);
    admission.unref();
    // A standby gateway refuses the upgrade with 503 and names the active one: try that one next.
    ws.on('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (b: Buffer) => {
        size += b.length;
        if (size <= 4096) chunks.push(b);
      });
      res.on('end', () => {
        this.nextGateway(res.statusCode === 503 ? activeOf(Buffer.concat(chunks).toString('utf8')) : undefined);
        this.log.warn({ gateway: target, status: res.statusCode }, 'agent.connect: %s refused the connection (%s); trying %s', target, res.statusCode, this.currentGateway());
        req.destroy();
        ws.terminate();
      });
    });
    ws.on('message', (data) => {
      void this.onMessage(ws, messageText(data)).catch((err: unknown) => this.log.error({ err }, 'agent.message failed'));
    });
    ws.on('close', (code, reason) => {
      clearTimeout(admission);
      const wasReady = this.ready;
      this.ready = false;
      if (this.ws === ws) this.ws = null;
      const text = reason.toString();
      if (code === CLOSE.notApproved || code === CLOSE.authFailed) this.log.error({ code, reason: text }, 'the gateway refused this agent: %s', text);
      else if (wasReady) this.log.warn({ code, reason: text }, 'disconnected from the gateway');
      // A gateway that went away (or never answered) may have handed over to another one: try the next.
      if (!wasReady && !this.redirected) this.nextGateway(undefined);
      this.redirected = false;
      this.scheduleReconnect();
    });
    ws.on('error', (err) => this.log.debug({ err: err.message }, 'agent.connect: %s', err.message));
  }

  /** The gateway the next connection goes to. */
  private currentGateway(): string {
    return this.config.gateways[this.gatewayIndex % this.config.gateways.length] as string;
  }

  /** Moves to the named active gateway when it is one of ours (never to a URL outside the config), else to the next in the list. */
  private nextGateway(active: string | undefined): void {
    if (this.redirected) return;
    const named = active === undefined ? -1 : this.config.gateways.indexOf(active.replace(/\/$/, ''));
    this.gatewayIndex = named >= 0 ? named : (this.gatewayIndex + 1) % this.config.gateways.length;
    this.redirected = true;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const base = Math.min(this.config.reconnectMaxMs, this.config.reconnectMinMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    const delay = base / 2 + Math.random() * (base / 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  private async onMessage(ws: WebSocket, text: string): Promise<void> {
    const m = parseGatewayMessage(text);
    switch (m.type) {
      case 'challenge': {
        const pinned = this.config.gatewayAgent ?? this.state.gatewayAgent;
        if (pinned !== undefined && pinned !== m.gateway) {
          this.log.error({ expected: pinned, got: m.gateway }, 'the gateway key changed; refusing to talk to it (fix gatewayAgent in the config or the agent state)');
          ws.close(CLOSE.authFailed, 'gateway key mismatch');
          return;
        }
        const nodes = this.config.nodes.map((n) => n.id);
        const statement = { agent: this.identity.agent, gateway: m.gateway, nonce: m.nonce, nodes };
        const signature = toBase64(signJsonStatement(this.identity.secretKey, AGENT_AUTH_PURPOSE, statement));
        if (pinned === undefined) this.saveState({ ...this.state, gatewayAgent: m.gateway });
        this.send({ type: 'hello', agent: this.identity.agent, nodes: this.config.nodes.map((n) => ({ id: n.id, capacity: n.capacity })), signature }, ws);
        return;
      }
      case 'welcome':
        this.onWelcome(ws, m);
        return;
      case 'ack':
        this.buffer.ack(m.seq);
        return;
      case 'vms':
        this.saveState({ ...this.state, assignments: [...m.vms] });
        return;
      case 'command':
        this.send(await this.runCommand(m), ws);
        return;
      case 'countersign':
        this.send(this.countersign(m.receipt), ws);
        return;
      case 'capacity-request': {
        const gateway = this.config.gatewayAgent ?? this.state.gatewayAgent;
        if (!this.bidder || gateway === undefined) return;
        const bids = await this.bidder.bids(m.request, this.config.nodes.map((n) => n.id), gateway, this.clock.nowMs());
        for (const bid of bids) this.send({ type: 'bid', bid }, ws);
        return;
      }
      case 'countersign-batch': {
        const answer = this.batches.receive(m);
        if (answer?.type === 'batch-countersign-refused') this.log.warn({ treeHead: answer.treeHead, reason: answer.reason }, 'refused to countersign a batch');
        if (answer?.type === 'batch-countersigned' && answer.refused.length > 0) this.log.warn({ treeHead: answer.treeHead, refused: answer.refused.length, first: answer.refused[0] }, 'countersigned a batch, refusing some receipts');
        if (answer) this.send(answer, ws);
      }
    }
  }

  private onWelcome(ws: WebSocket, m: WelcomeMessage): void {
    this.saveState({ ...this.state, assignments: [...m.vms], heartbeatIntervalMs: m.heartbeatIntervalMs, periodMs: m.periodMs });
    const pos = this.buffer.position();
    if (m.resumeFromSeq > pos.seq + 1) {
      this.log.warn({ gatewaySeq: m.resumeFromSeq - 1, agentSeq: pos.seq }, 'the gateway has heartbeats this agent lost (state folder reset?); continuing from the gateway\'s chain');
      this.buffer.reanchor(m.resumeFromSeq - 1, m.head);
    }
    this.buffer.ack(m.ackedSeq);
    const replay = this.buffer.replay(m.resumeFromSeq);
    for (const message of replay) this.send(message, ws);
    for (const message of this.logins.values()) this.send(message, ws);
    this.logins.clear();
    this.ready = true;
    this.attempt = 0;
    this.log.info({ resumeFromSeq: m.resumeFromSeq, replayed: replay.length, assignments: m.vms.length }, 'connected to the gateway');
  }

  private async runCommand(m: CommandMessage): Promise<AgentMessage> {
    const fail = (error: string): AgentMessage => ({ type: 'result', id: m.id, ok: false, error });
    if (!this.driver || m.vm.node !== this.config.vmDriver?.node) return fail(`this agent runs no VMs on node ${m.vm.node}`);
    try {
      switch (m.op) {
        case 'deploy': {
          const secrets = m.vm.secrets === undefined ? undefined : await openSecrets(this.identity, m.vm.secrets);
          if (typeof secrets === 'string') return fail(secrets);
          const vm = await this.driver.deploy({ id: m.vm.id, sshKeys: m.vm.sshKeys ?? [], ...(m.vm.seedHex ? { seedHex: m.vm.seedHex } : {}), ...(secrets ? { secrets } : {}) });
          return { type: 'result', id: m.id, ok: true, vm: { id: vm.id, myceliumIp: vm.myceliumIp, state: vm.state } };
        }
        case 'pause':
        case 'resume':
        case 'set-ssh-keys': {
          const vm = m.op === 'pause' ? await this.driver.pause(m.vm.id) : m.op === 'resume' ? await this.driver.resume(m.vm.id) : await this.driver.setSshKeys(m.vm.id, m.vm.sshKeys ?? []);
          return { type: 'result', id: m.id, ok: true, vm: { id: vm.id, myceliumIp: vm.myceliumIp, state: vm.state } };
        }
        case 'destroy':
          await this.driver.destroy(m.vm.id);
          return { type: 'result', id: m.id, ok: true };
        case 'status': {
          const state = await this.driver.status(m.vm.id);
          const vm = (await this.driver.list()).find((v) => v.id === m.vm.id);
          return { type: 'result', id: m.id, ok: true, vm: { id: m.vm.id, myceliumIp: vm?.myceliumIp ?? '', state } };
        }
      }
    } catch (err) {
      this.log.warn({ op: m.op, vm: m.vm.id, err: errorMessage(err) }, 'command failed');
      return fail(errorMessage(err));
    }
  }

  /** Countersigns a v1 receipt only if it verifies, is ours, and its up-time matches our own record. */
  private countersign(receipt: Receipt): AgentMessage {
    const refuse = (reason: string): AgentMessage => {
      this.log.warn({ receipt: receipt.id, reason }, 'refused to countersign');
      return { type: 'countersign-refused', receiptId: String(receipt.id).slice(0, 64), reason };
    };
    const gateway = this.config.gatewayAgent ?? this.state.gatewayAgent;
    const verdict = verifyReceipt(receipt, gateway);
    if (!verdict.ok) return refuse(`the receipt does not verify: ${verdict.reason}`);
    if (receipt.farmer !== this.identity.agent) return refuse('the receipt names another farmer');
    const reason = this.disagreement(receipt);
    if (reason) return refuse(reason);
    return { type: 'countersigned', receiptId: receipt.id, signature: countersignReceipt(receipt, this.identity.secretKey) };
  }

  /** Why a receipt of this farmer disagrees with the agent's own record (its node, and its up-time within tolerance), or null. */
  private disagreement(receipt: ReceiptFields): string | null {
    if (!this.config.nodes.some((n) => n.id === receipt.node)) return `node ${receipt.node} is not one of this agent's nodes`;
    const startMs = Date.parse(receipt.periodStart);
    const endMs = Date.parse(receipt.periodEnd);
    const log = this.samples.get(receipt.deployment);
    const firstAtMs = log?.firstAtMs;
    // Samples starting late are a gap in the record only if this process started after the period did. Running
    // since before, the agent has every sample it took: a VM assigned mid-period (its first receipt starts at the
    // deployment, the agent's first probe of it one busy heartbeat or more later) is checked on its samples.
    if (this.startedAtMs > startMs + this.intervalMs && (firstAtMs === undefined || firstAtMs > startMs + this.intervalMs)) {
      return `no record of ${receipt.deployment} for the whole period (the agent restarted or was not probing it)`;
    }
    const mine = upSeconds(log ? log.window(startMs, endMs) : [], startMs, endMs, this.intervalMs);
    const tolerance = this.config.countersignToleranceSeconds ?? Math.max(2 * (this.intervalMs / 1000), (endMs - startMs) / 1000 / 100);
    if (Math.abs(mine - receipt.upSeconds) > tolerance) {
      return `up-time ${receipt.upSeconds} s does not match this agent's record of ${mine} s (tolerance ${tolerance} s)`;
    }
    return null;
  }

  private send(message: AgentMessage, ws: WebSocket | null = this.ws): void {
    if (ws && ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  }

  private saveState(state: SavedState): void {
    this.state = state;
    writeSecureFile(join(this.config.stateDir, 'agent-state.json'), JSON.stringify(state));
  }
}

/**
 * The active gateway's URL from a standby's 503 body (`{"error":{"code":"standby","active":"http://…",…}}`),
 * if it names one. An older gateway's body (`active` at the top level) names none here: the agent then
 * tries the next gateway of its list, as for any gateway that does not answer.
 */
function activeOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; active?: unknown } } | null;
    if (typeof parsed !== 'object' || parsed === null || typeof parsed.error !== 'object' || parsed.error === null) return undefined;
    const active = parsed.error.code === 'standby' ? parsed.error.active : undefined;
    return typeof active === 'string' ? active : undefined;
  } catch {
    return undefined;
  }
}
