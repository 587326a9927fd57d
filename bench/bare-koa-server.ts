// bench/bare-koa-server: bench/auth's baseline, a bare Koa hello-world listening on one address and port (run in the gateway's namespace).
import { createServer } from 'node:http';
import Koa from 'koa';

const [address, portText] = process.argv.slice(2);
const port = Number(portText);
if (address === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('usage: node dist/bench/bare-koa-server.js ADDRESS PORT\n');
  process.exit(2);
}

// One middleware and nothing else: what any Koa server pays per request.
const app = new Koa();
app.use((ctx) => {
  ctx.body = { hello: 'world' };
});

// The gateway's socket settings (src/gateway/gateway.ts), so only the app differs between the two.
const server = createServer(app.callback());
server.headersTimeout = 20_000;
server.requestTimeout = 30_000;
server.keepAliveTimeout = 10_000;
server.on('error', (err) => {
  process.stderr.write(`bare-koa-server: listen on [${address}]:${port}: ${err.message}\n`);
  process.exit(1);
});
// bench/auth waits for this line before it sends load.
server.listen({ host: address, port, ipv6Only: true }, () => process.stdout.write(`bare-koa listening on [${address}]:${port}\n`));

const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
