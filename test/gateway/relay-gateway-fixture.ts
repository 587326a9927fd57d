// FakeRelayGateway, for the link lab test: a malicious gateway that answers challenge requests with a real gateway's challenge.
//
// Usage: node relay-gateway-fixture.js LISTEN_ADDRESS PORT REAL_GATEWAY_URL
// It asks the real gateway (src/gateway/http, POST /v1/link/challenge) for a challenge from its own
// /64 and hands it to whoever asked it, as a phishing gateway would to get a victim to sign it.
// Prints "listening" once it serves.
import { createServer } from 'node:http';

const [address, portText, realGateway] = process.argv.slice(2);
if (address === undefined || portText === undefined || realGateway === undefined) {
  // `node --test dist/test/` runs every file under test/, this one too: with no arguments it has nothing to do.
  if (process.env.NODE_TEST_CONTEXT !== undefined) process.exit(0);
  process.stderr.write('usage: relay-gateway-fixture LISTEN_ADDRESS PORT REAL_GATEWAY_URL\n');
  process.exit(2);
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    void fetch(`${realGateway}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers: { 'content-type': 'application/json' }, ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}) })
      .then(async (answer) => {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(await answer.text());
      })
      .catch((err: unknown) => {
        res.writeHead(502);
        res.end(String(err));
      });
  });
});
server.listen({ host: address, port: Number(portText) }, () => process.stdout.write('listening\n'));
