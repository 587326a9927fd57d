// bench/bare-ws-server: bench/agents' baseline, a bare `ws` server at /v1/agent that answers the agent handshake trivially and only JSON.parses each message.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const [address, portText] = process.argv.slice(2);
const port = Number(portText);
if (address === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('usage: node dist/bench/bare-ws-server.js ADDRESS PORT\n');
  process.exit(2);
}

/** The gateway's chain head before the first heartbeat (src/protocol/heartbeat.ts GENESIS_HEAD), sent in the fake welcome. */
const GENESIS_HEAD = '0'.repeat(64);
/** What the fake welcome tells the agents: beat every second, as the gateway under test is configured. */
const HEARTBEAT_INTERVAL_MS = 1000;
const PERIOD_MS = 3_600_000;

let messages = 0;
let parseErrors = 0;
let connections = 0;

// Plain HTTP: GET /count for bench/agents' counters, 426 for anything else (as a WebSocket-only endpoint would).
const server = createServer((req, res) => {
  if (req.url === '/count') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ messages, parseErrors, connections }));
    return;
  }
  res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
  res.end('upgrade to a WebSocket\n');
});
server.headersTimeout = 20_000;
server.requestTimeout = 30_000;
server.keepAliveTimeout = 10_000;

// The gateway's limits (src/gateway/agents/agent-admission.ts), so only what happens per message differs.
const wss = new WebSocketServer({ server, path: '/v1/agent', maxPayload: 4 * 1024 * 1024 });
wss.on('connection', (ws) => {
  connections++;
  let welcomed = false;
  ws.on('error', () => undefined);
  ws.on('close', () => connections--);
  ws.on('message', (data: Buffer) => {
    let m: unknown;
    try {
      m = JSON.parse(data.toString('utf8'));
    } catch {
      parseErrors++;
      return;
    }
    if (welcomed) {
      messages++;
      return;
    }
    // The first message is the hello: welcome it without checking anything.
    welcomed = true;
    const agent = typeof m === 'object' && m !== null && 'agent' in m ? String(m.agent) : '';
    ws.send(JSON.stringify({ type: 'welcome', agent, resumeFromSeq: 1, head: GENESIS_HEAD, ackedSeq: 0, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, periodMs: PERIOD_MS, vms: [] }));
  });
  ws.send(JSON.stringify({ type: 'challenge', nonce: 'bare', gateway: 'bare', atMs: Date.now() }));
});

server.on('error', (err) => {
  process.stderr.write(`bare-ws-server: listen on [${address}]:${port}: ${err.message}\n`);
  process.exit(1);
});
// The gateway's listen options (default backlog), so both accept connections alike; bench/agents waits for this line.
server.listen({ host: address, port, ipv6Only: true }, () => process.stdout.write(`bare-ws listening on [${address}]:${port}\n`));

const stop = (): void => {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
