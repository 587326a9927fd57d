// Who may open `/v1/agent`: the upgrade's checks (path, Mycelium source, browser guard, rate), the challenge, and the signed hello against the agent's approval.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { RateLimiter } from '../limits/rate-limiter.js';
import { guardedRequest, type OriginPolicy } from '../http/origin-guard.js';
import { errorBody } from '../http/public-error.js';
import { errorMessage } from '../../identity/error-message.js';
import {
  decodeAgentPubKey,
  formatIpv6,
  fromBase64,
  isMyceliumBytes,
  parseIpv6,
  randomBytes,
  sameSubnet64,
  subnet64Of,
  toBase64Url,
  verifyJsonStatement,
  type Identity,
} from '../../identity/index.js';
import { AGENT_AUTH_PURPOSE, CLOSE, messageText, parseAgentMessage, type AgentMessage, type HelloMessage } from '../../protocol/index.js';
import type { Clock } from '../../protocol/clock.js';
import type { EventSink } from '../events/event-log.js';
import type { EventName } from '../events/event-catalogue.js';
import type { Store } from '../store/store.js';
import { AgentRequests, type AgentRequestPolicy } from './agent-requests.js';
import { closeReason, sendMessage } from './agent-connection.js';

/** How long an agent has to answer the challenge with its hello. */
export const AUTH_TIMEOUT_MS = 10_000;

/** What admission needs from the gateway (a subset of AgentHubDeps). */
export interface AdmissionDeps {
  readonly store: Pick<Store, 'agents'>;
  readonly clock: Clock;
  readonly identity: Identity;
  readonly events: EventSink;
  readonly log: Logger;
  readonly agentRequests: AgentRequestPolicy;
  readonly origin?: Pick<OriginPolicy, 'check'>;
  readonly upgrades?: Pick<RateLimiter, 'take'>;
}

/** An agent that passed admission: its socket, its verified hello, and where it connects from. */
export type Admitted = (ws: WebSocket, hello: HelloMessage, address: string) => Promise<void>;

/**
 * One connection per agent: a challenge, a signed hello naming its nodes. Accepted only if the
 * key is approved for those nodes (in the config, or by an admin after the agent asked) and the
 * connection comes from a /64 registered for it; then handed to `admitted`.
 */
export class AgentAdmission {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });
  private readonly requests: AgentRequests;

  constructor(
    private readonly deps: AdmissionDeps,
    private readonly admitted: Admitted,
  ) {
    this.requests = new AgentRequests(deps.store.agents, deps.agentRequests);
  }

  /** Handles one HTTP upgrade on the gateway's server: refuses it with a status, or starts the handshake. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
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

  /** Stops accepting upgrades. */
  close(): void {
    this.wss.close();
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
        ws.close(CLOSE.badMessage, closeReason(`bad hello: ${errorMessage(err)}`));
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
    sendMessage(ws, { type: 'challenge', nonce, gateway: this.deps.identity.agent, atMs: this.deps.clock.nowMs() });
  }

  private async admit(ws: WebSocket, hello: HelloMessage, nonce: string, address: string, subnet: string): Promise<void> {
    const refuse = async (code: number, reason: string, event: EventName): Promise<void> => {
      await this.deps.events.record({ atMs: this.deps.clock.nowMs(), event, detail: `${reason} (from ${address})`, agent: hello.agent, data: { subnet } });
      ws.close(code, closeReason(reason));
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
      ws.close(CLOSE.notApproved, closeReason(outcome.kind === 'refused' ? outcome.reason : waiting));
      return;
    }
    if (approval.state === 'revoked') return refuse(CLOSE.notApproved, `agent ${hello.agent} was revoked by an admin`, 'agent.refused');
    if (!approval.subnets.some((s) => sameSubnet64(s, subnet))) {
      return refuse(CLOSE.notApproved, `connection from ${subnet}, which is not a /64 registered for this agent (${approval.subnets.join(', ')})`, 'agent.refused');
    }
    const foreign = nodeIds.filter((n) => !approval.nodes.includes(n));
    if (foreign.length > 0) return refuse(CLOSE.notApproved, `agent is not approved for node(s) ${foreign.join(', ')}`, 'agent.refused');
    await this.admitted(ws, hello, address);
  }
}
