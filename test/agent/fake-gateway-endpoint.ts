// A fake of the gateway's /v1/agent endpoint for Agent unit tests: a scripted end to each connection attempt.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { newIdentity, type Identity } from '../../src/identity/index.js';
import { GENESIS_HEAD, messageText, type GatewayMessage } from '../../src/protocol/index.js';

/** How a connection attempt ends: each is one way the gateway's side can reset it before the agent is admitted, or a welcome. */
export type Ending = 'reset-on-request' | 'reset-after-open' | 'reset-after-hello' | 'silent-after-open' | 'welcome';

/** The heartbeat interval and period a welcome gives the agent (real ms: these tests use no lab clock). */
export const FAKE_INTERVAL_MS = 200;
export const FAKE_PERIOD_MS = 3_600_000;

/**
 * A fake of the gateway's /v1/agent endpoint, named as one. It follows AgentAdmission.upgrade and
 * .admit (src/gateway/agents/agent-admission.ts): a challenge, the agent's hello, a welcome;
 * but it checks nothing, and each attempt ends as its script says ('welcome' once the script
 * runs out). Every attempt and every message the agent sent is recorded.
 */
export class FakeGatewayEndpoint {
  readonly attempts: Ending[] = [];
  readonly received: Array<Record<string, unknown>> = [];
  readonly identity: Identity = newIdentity();
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly server = createServer();
  private welcomed: WebSocket | undefined;

  constructor(private readonly script: readonly Ending[] = []) {
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
  }

  /** Listens on [::1] (the agent's config only takes a bracketed IPv6 address); returns the gateway URL. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '::1', resolve));
    return `http://[::1]:${(this.server.address() as AddressInfo).port}`;
  }

  /** Messages of one type the agent sent, oldest first. */
  messages(type: string): Array<Record<string, unknown>> {
    return this.received.filter((m) => m.type === type);
  }

  /** Sends a message on the welcomed connection. */
  send(message: GatewayMessage): void {
    if (!this.welcomed) throw new Error('no agent was welcomed');
    this.welcomed.send(JSON.stringify(message));
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const ending = this.script[this.attempts.length] ?? 'welcome';
    this.attempts.push(ending);
    // The upgrade request arrived and nothing was answered: a TCP reset (a gateway crashing, a middlebox).
    if (ending === 'reset-on-request') return void socket.resetAndDestroy();
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      if (ending === 'reset-after-open') return void socket.resetAndDestroy();
      // The peer went away without a reset reaching the agent (a host gone, a lost RST): nothing more ever comes.
      if (ending === 'silent-after-open') return;
      ws.on('message', (data) => {
        const m = JSON.parse(messageText(data)) as Record<string, unknown>;
        this.received.push(m);
        if (m.type !== 'hello') return;
        if (ending === 'reset-after-hello') return void socket.resetAndDestroy();
        this.welcomed = ws;
        this.send({ type: 'welcome', agent: String(m.agent), resumeFromSeq: 1, head: GENESIS_HEAD, ackedSeq: 0, heartbeatIntervalMs: FAKE_INTERVAL_MS, periodMs: FAKE_PERIOD_MS, vms: [] });
      });
      ws.send(JSON.stringify({ type: 'challenge', nonce: 'bm9uY2Utbm9uY2Utbm9uY2U', gateway: this.identity.agent, atMs: Date.now() }));
    });
  }
}
