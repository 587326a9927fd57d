// A farmer-agent impostor for the abuse lab test, run inside a lab namespace: COUNT fresh keys each send one self-signed hello.
// Usage: node hello-flood-fixture.js GATEWAY_URL COUNT NODE — prints one {"agent","closed","reason"} line per hello.
import { WebSocket } from 'ws';
import { newIdentity, signJsonStatement, toBase64 } from '../../src/identity/index.js';
import { AGENT_AUTH_PURPOSE, messageText } from '../../src/protocol/index.js';

const [url, countText, node] = process.argv.slice(2);
if (url === undefined || countText === undefined || node === undefined) {
  // Run without arguments (e.g. picked up by a test runner): nothing to do.
  process.exit(0);
}

/** One hello from a key made just now (free to make: what the caps defend against); resolves with how the gateway closed. */
function hello(base: string, nodeId: string): Promise<{ agent: string; closed: number; reason: string }> {
  const me = newIdentity();
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/agent`);
    ws.on('message', (data) => {
      const m = JSON.parse(messageText(data)) as Record<string, unknown>;
      if (m.type !== 'challenge') return;
      const statement = { agent: me.agent, gateway: m.gateway, nonce: m.nonce, nodes: [nodeId] };
      ws.send(JSON.stringify({ type: 'hello', agent: me.agent, nodes: [{ id: nodeId }], signature: toBase64(signJsonStatement(me.secretKey, AGENT_AUTH_PURPOSE, statement)) }));
    });
    ws.on('close', (code, reason) => resolve({ agent: me.agent, closed: code, reason: reason.toString() }));
    ws.on('error', () => undefined);
  });
}

for (let i = 0; i < Number(countText); i++) process.stdout.write(JSON.stringify(await hello(url, `${node}-${i}`)) + '\n');
