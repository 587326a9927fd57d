// A raw agent client for tests, run inside a lab namespace: it can sign with the wrong key and send forged or reordered chains.
// Usage: node ws-agent-fixture.js GATEWAY_URL KEY_FILE NODE MODE [CLAIMED_AGENT]
//   MODE hello      authenticate, print the welcome or the close, exit
//   MODE wrongkey   claim CLAIMED_AGENT but sign with KEY_FILE
//   MODE chain      authenticate (retrying while not yet approved), then send a good heartbeat, a gap,
//                   a heartbeat with a forged previous head, a replayed seq with other content, and a
//                   chain head that does not match; print each close or message
import { WebSocket } from 'ws';
import { loadKeyFile, signJsonStatement, toBase64 } from '../../src/identity/index.js';
import { AGENT_AUTH_PURPOSE, CHAIN_HEAD_PURPOSE, GENESIS_HEAD, chainNext, messageText, type Heartbeat } from '../../src/protocol/index.js';

const [url, keyFile, node, mode, claimed] = process.argv.slice(2);
if (url === undefined || keyFile === undefined || node === undefined || mode === undefined) {
  // Run without arguments (e.g. picked up by a test runner): nothing to do.
  process.exit(0);
}
const base: string = url;
const me = loadKeyFile(keyFile);
let gatewayAgent = '';
const print = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + '\n');

function connect(): Promise<{ ws: WebSocket; welcome: Record<string, unknown> } | { code: number; reason: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/agent`);
    ws.on('message', (data) => {
      const m = JSON.parse(messageText(data)) as Record<string, unknown>;
      if (m.type === 'challenge') {
        gatewayAgent = String(m.gateway);
        const agent = mode === 'wrongkey' && claimed ? claimed : me.agent;
        const statement = { agent, gateway: m.gateway, nonce: m.nonce, nodes: [node] };
        const signature = toBase64(signJsonStatement(me.secretKey, AGENT_AUTH_PURPOSE, statement));
        ws.send(JSON.stringify({ type: 'hello', agent, nodes: [{ id: node, capacity: { cpu: 0, memoryGb: 0, diskGb: 0 } }], signature }));
      } else if (m.type === 'welcome') {
        resolve({ ws, welcome: m });
      }
    });
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.on('error', () => undefined);
  });
}

let result = await connect();
for (let i = 0; mode === 'chain' && 'code' in result && i < 100; i++) {
  await new Promise((r) => setTimeout(r, 200));
  result = await connect();
}
if ('code' in result) {
  print({ closed: result.code, reason: result.reason });
  process.exit(0);
}
print({ welcome: true, resumeFromSeq: result.welcome.resumeFromSeq });
if (mode !== 'chain') {
  result.ws.close();
  process.exit(0);
}
const ws = result.ws;
const gateway = gatewayAgent;
let seq = Number(result.welcome.resumeFromSeq) - 1;
let head = typeof result.welcome.head === 'string' ? result.welcome.head : GENESIS_HEAD;
const now = Date.now();
const hb = (s: number): Heartbeat => ({ seq: s, atMs: now + s, nodes: [{ id: node, up: true }], vms: [] });
const send = (h: Heartbeat, prev: string): void => ws.send(JSON.stringify({ type: 'heartbeat', prev, ...h }));
// 1. a good heartbeat
seq++;
send(hb(seq), head);
head = chainNext(head, hb(seq));
// 2. a gap: skip one seq
seq += 2;
send(hb(seq), head);
head = chainNext(head, hb(seq));
// 3. the next seq, but naming a forged previous head
seq++;
const forged = 'ab'.repeat(32);
send(hb(seq), forged);
head = chainNext(forged, hb(seq));
// 4. an earlier seq sent again with other content (a reordered chain)
send({ ...hb(seq - 1), atMs: now + 999 }, forged);
// 5. a signed chain head that does not match what was sent
const statement = { agent: me.agent, gateway, periodStartMs: 0, periodEndMs: 1, seq, head: 'cd'.repeat(32) };
ws.send(JSON.stringify({ type: 'chain-head', periodStartMs: 0, periodEndMs: 1, seq, head: 'cd'.repeat(32), signature: toBase64(signJsonStatement(me.secretKey, CHAIN_HEAD_PURPOSE, statement)) }));
await new Promise((r) => setTimeout(r, 500));
print({ sent: seq });
ws.close();
process.exit(0);
