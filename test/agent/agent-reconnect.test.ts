// Agent.start against a gateway endpoint that resets the connection mid-handshake: the agent keeps reconnecting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { Agent } from '../../src/agent/agent.js';
import { parseAgentConfig } from '../../src/agent/config.js';
import { newIdentity, saveKeyFile } from '../../src/identity/index.js';
import { messageText } from '../../src/protocol/index.js';
import { waitFor } from '../helpers/lab.js';
import { scratchDir } from '../helpers/paths.js';

/** How a connection attempt ends: each is one way the gateway's side can reset it before the agent is admitted. */
type Ending = 'reset-on-request' | 'reset-after-open' | 'reset-after-hello' | 'silent-after-open' | 'accept';

/**
 * A fake of the gateway's /v1/agent endpoint, named as one (it follows AgentHub.upgrade and the
 * challenge it sends, src/gateway/agents/agent-hub.ts): each attempt ends as its script says, and
 * every attempt and every message the agent sent is recorded.
 */
class FakeGatewayEndpoint {
  readonly attempts: Ending[] = [];
  readonly hellos: unknown[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly server = createServer();
  private readonly gateway = newIdentity();

  constructor(private readonly script: readonly Ending[]) {
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '::1', resolve));
    return `http://[::1]:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const ending = this.script[this.attempts.length] ?? 'accept';
    this.attempts.push(ending);
    // The upgrade request arrived and nothing was answered: a TCP reset (a gateway crashing, a middlebox).
    if (ending === 'reset-on-request') return void socket.resetAndDestroy();
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      if (ending === 'reset-after-open') return void socket.resetAndDestroy();
      // The peer went away without a reset reaching the agent (a host gone, a lost RST): nothing more ever comes.
      if (ending === 'silent-after-open') return;
      ws.on('message', (data) => {
        this.hellos.push(JSON.parse(messageText(data)));
        if (ending === 'reset-after-hello') socket.resetAndDestroy();
      });
      ws.send(JSON.stringify({ type: 'challenge', nonce: 'bm9uY2Utbm9uY2Utbm9uY2U', gateway: this.gateway.agent, atMs: Date.now() }));
    });
  }
}

test('an agent whose connection is reset mid-handshake reconnects, after each kind of reset', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const endpoint = new FakeGatewayEndpoint(['reset-on-request', 'reset-after-open', 'reset-after-hello', 'reset-on-request', 'reset-after-hello']);
  const url = await endpoint.listen();
  t.after(() => endpoint.close());
  saveKeyFile(join(dir, 'agent.key'), newIdentity());
  const config = parseAgentConfig(
    { gateway: url, keyFile: 'agent.key', stateDir: 'state', nodes: [{ id: 'node-1' }], heartbeatIntervalSeconds: 1, reconnect: { minSeconds: 0.01, maxSeconds: 0.05 } },
    dir,
  );
  const agent = await Agent.start(config, pino({ enabled: false }));
  t.after(() => agent.close());
  await waitFor('the agent to come back after five resets', () => (endpoint.attempts.length >= 6 && endpoint.hellos.length >= 3 ? true : undefined), 30_000, 20);
  assert.deepEqual(endpoint.attempts.slice(0, 6), ['reset-on-request', 'reset-after-open', 'reset-after-hello', 'reset-on-request', 'reset-after-hello', 'accept']);
  assert.ok(endpoint.hellos.length >= 3, 'the agent answered the challenge on the attempts that got that far, and again after the resets');
});

test('an agent whose gateway goes silent mid-handshake gives up on that connection and connects again', async (t) => {
  const { dir, remove } = scratchDir();
  t.after(remove);
  const endpoint = new FakeGatewayEndpoint(['silent-after-open']);
  const url = await endpoint.listen();
  t.after(() => endpoint.close());
  saveKeyFile(join(dir, 'agent.key'), newIdentity());
  const config = parseAgentConfig({ gateway: url, keyFile: 'agent.key', stateDir: 'state', nodes: [{ id: 'node-1' }], reconnect: { minSeconds: 0.01, maxSeconds: 0.05 } }, dir);
  const agent = await Agent.start(config, pino({ enabled: false }));
  t.after(() => agent.close());
  // The wait is the agent's own welcome timeout (15 s) plus slack for a loaded machine; no duration is asserted.
  await waitFor('a second connection attempt', () => (endpoint.attempts.length >= 2 ? true : undefined), 60_000, 50);
  assert.deepEqual(endpoint.attempts.slice(0, 2), ['silent-after-open', 'accept']);
});
