// A simulated farmer agent over a real WebSocket: the signed handshake of src/agent/agent.ts, hash-chained heartbeats, and instant answers to VM commands; shared by tests and benches.
import { WebSocket } from 'ws';
import { signJsonStatement, toBase64, type Identity } from '../../src/identity/index.js';
import { AGENT_AUTH_PURPOSE, GENESIS_HEAD, chainNext, messageText, type Heartbeat, type NodeReport, type VmReport } from '../../src/protocol/index.js';

/** How a connection attempt ended: welcomed, or closed (code and reason) before the welcome. */
export type ConnectOutcome = { readonly welcomed: true } | { readonly welcomed: false; readonly code: number; readonly reason: string };

/** Who the simulated agent is and what it reports. */
export interface SimAgentOptions {
  readonly identity: Identity;
  /** The nodes it speaks for, each with this capacity (zero: it runs no VMs). */
  readonly nodes: readonly string[];
  readonly capacity?: { readonly cpu: number; readonly memoryGb: number; readonly diskGb: number };
  /** VM ids it reports in every heartbeat besides the ones the gateway assigned (bench load). */
  readonly extraVms?: readonly string[];
  /** The local address its connections come from (a 400::/7 address of this host). */
  readonly localAddress?: string;
  /** Where a deployed VM "runs": the address the agent answers a deploy with. */
  vmAddress?(vmId: string): string;
}

/**
 * One simulated agent. `connect` does the real challenge and signed hello; after the welcome it
 * answers `command`s at once (ok, with `vmAddress`), keeps the VMs the gateway assigns, and
 * counts acknowledgements. `beat` sends the next chained heartbeat.
 */
export class SimAgent {
  ws: WebSocket | undefined;
  ready = false;
  seq = 0;
  head = GENESIS_HEAD;
  /** Highest seq the gateway acknowledged as durable. */
  ackedSeq = 0;
  /** Heartbeats sent on all connections. */
  sent = 0;
  /** Commands answered. */
  commands = 0;
  /** The gateway's key, learned from the challenge. */
  gateway = '';
  /** Called when a welcomed connection closes (not for closes this side asked for). */
  onLost: (code: number, reason: string) => void = () => undefined;
  /** Called on a socket error (the close that follows is reported as usual). */
  onError: (err: Error) => void = () => undefined;
  private readonly assigned = new Set<string>();
  private stopping = false;

  constructor(readonly options: SimAgentOptions) {}

  get agent(): string {
    return this.options.identity.agent;
  }

  /** Opens a connection to `wsUrl` (…/v1/agent) and authenticates; resolves once welcomed or refused. */
  connect(wsUrl: string, timeoutMs = 30_000): Promise<ConnectOutcome> {
    this.stopping = false;
    return new Promise((resolve) => {
      const ws = new WebSocket(wsUrl, { handshakeTimeout: timeoutMs, maxPayload: 4 * 1024 * 1024, ...(this.options.localAddress ? { localAddress: this.options.localAddress } : {}) });
      this.ws = ws;
      const giveUp = setTimeout(() => ws.terminate(), timeoutMs);
      ws.on('message', (data: Buffer) => this.onMessage(ws, messageText(data), () => {
        clearTimeout(giveUp);
        resolve({ welcomed: true });
      }));
      ws.on('error', (err) => this.onError(err));
      ws.on('close', (code, reason) => {
        clearTimeout(giveUp);
        const text = reason.toString('utf8');
        if (this.ready && this.ws === ws) {
          this.ready = false;
          if (!this.stopping) this.onLost(code, text);
        }
        resolve({ welcomed: false, code, reason: text });
      });
    });
  }

  /** Sends the next heartbeat (every node up, every VM reachable); false when not connected. */
  beat(atMs = Date.now()): boolean {
    const ws = this.ws;
    if (!this.ready || ws === undefined || ws.readyState !== WebSocket.OPEN) return false;
    const nodes: NodeReport[] = this.options.nodes.map((id) => ({ id, up: true }));
    const vms: VmReport[] = [...this.assigned, ...(this.options.extraVms ?? [])].map((id) => ({ id, reachable: true, rttMicros: 400 + Math.floor(Math.random() * 2000) }));
    const hb: Heartbeat = { seq: this.seq + 1, atMs, nodes, vms };
    ws.send(JSON.stringify({ type: 'heartbeat', seq: hb.seq, atMs: hb.atMs, prev: this.head, nodes, vms }));
    this.head = chainNext(this.head, hb);
    this.seq = hb.seq;
    this.sent++;
    return true;
  }

  /** Bytes queued on the socket, unsent. */
  backlogBytes(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /** Closes the connection at once. */
  close(): void {
    this.stopping = true;
    this.ready = false;
    this.ws?.terminate();
  }

  private onMessage(ws: WebSocket, text: string, welcomed: () => void): void {
    const m = JSON.parse(text) as Record<string, unknown>;
    switch (m.type) {
      case 'challenge': {
        this.gateway = String(m.gateway);
        const nodes = [...this.options.nodes];
        const statement = { agent: this.agent, gateway: m.gateway, nonce: m.nonce, nodes };
        const signature = toBase64(signJsonStatement(this.options.identity.secretKey, AGENT_AUTH_PURPOSE, statement));
        const capacity = this.options.capacity ?? { cpu: 0, memoryGb: 0, diskGb: 0 };
        ws.send(JSON.stringify({ type: 'hello', agent: this.agent, nodes: nodes.map((id) => ({ id, capacity })), signature }));
        return;
      }
      case 'welcome':
        this.seq = Number(m.resumeFromSeq) - 1;
        this.head = typeof m.head === 'string' ? m.head : GENESIS_HEAD;
        this.ackedSeq = Number(m.ackedSeq);
        this.setAssigned(m.vms);
        this.ready = true;
        welcomed();
        return;
      case 'vms':
        this.setAssigned(m.vms);
        return;
      case 'ack':
        this.ackedSeq = Math.max(this.ackedSeq, Number(m.seq));
        return;
      case 'command':
        this.answer(ws, m);
        return;
      default:
    }
  }

  private setAssigned(vms: unknown): void {
    this.assigned.clear();
    if (Array.isArray(vms)) for (const v of vms as { id: string }[]) this.assigned.add(v.id);
  }

  /** Every command succeeds at once, as a healthy lab VM driver's would. */
  private answer(ws: WebSocket, m: Record<string, unknown>): void {
    const vm = m.vm as { id: string };
    const op = String(m.op);
    const state = op === 'destroy' ? 'gone' : op === 'pause' ? 'paused' : 'running';
    const myceliumIp = this.options.vmAddress?.(vm.id) ?? '';
    this.commands++;
    ws.send(JSON.stringify({ type: 'result', id: m.id, ok: true, vm: { id: vm.id, myceliumIp, state } }));
  }
}
