// bench/auth-path's server: the gateway's HTTP request path of the build in ROOT (its createApp with the gateway's own guard, buckets, metrics, connection caps and public routes) on one address and port, without a lab around it.
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import type { AdminSources } from '../src/gateway/admin/admin-views.js';
import type { LinkRecord } from '../src/gateway/store/records.js';

const [root, address, portText] = process.argv.slice(2);
const port = Number(portText);
if (root === undefined || address === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('usage: node dist/bench/auth-path-server.js ROOT ADDRESS PORT (ROOT: a built hypha checkout, this one or another build to compare)\n');
  process.exit(2);
}

/** A module of the build in ROOT, typed as this build's (the parts used here keep their shape across builds). */
async function load<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(root as string, 'dist', path)).href)) as T;
}

const { createApp } = await load<typeof import('../src/gateway/http/app.js')>('src/gateway/http/app.js');
const { registerPublicRoutes } = await load<typeof import('../src/gateway/http/public-routes.js')>('src/gateway/http/public-routes.js');
const { GatewayMetrics } = await load<typeof import('../src/gateway/metrics.js')>('src/gateway/metrics.js');
const { RateLimiter } = await load<typeof import('../src/gateway/limits/rate-limiter.js')>('src/gateway/limits/rate-limiter.js');
const { OriginPolicy } = await load<typeof import('../src/gateway/http/origin-guard.js')>('src/gateway/http/origin-guard.js');
const { ConnectionLimiter } = await load<typeof import('../src/gateway/http/connection-limits.js')>('src/gateway/http/connection-limits.js');
const { subnet64 } = await load<typeof import('../src/identity/index.js')>('src/identity/index.js');

// The caller's /64 is linked, as alice's is in bench/auth; the principal source is wired as in src/gateway/wiring/http-part.ts.
const subnet = subnet64(address);
const links = new Map<string, LinkRecord>([[subnet, { subnet, agent: 'uhCAkbenchcustomer', address, linkedAtMs: 0, nonce: 'n', statement: 's', signature: 'x' }]]);
const admins = new Set<string>(['uhCAkbenchadmin']);
// Gauges read these only when /metrics is scraped, which this bench never does.
const metrics = new GatewayMetrics({} as AdminSources);
const wallMs = (): number => Date.now();
const url = `http://[${address}]:${port}`;
const app = createApp({
  log: pino({ level: 'info' }),
  origin: new OriginPolicy([`[${address}]:${port}`]),
  // bench/auth lifts the linked bucket the same way (http.linkedRequestsPerMinute), so the bucket's cost stays and no request is refused.
  rateLimits: {
    unlinked: new RateLimiter(600, 150, wallMs),
    unlinkedPerMinute: 600,
    linked: new RateLimiter(10_000_000, 2_500_000, wallMs),
    linkedPerMinute: 10_000_000,
    hold: (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000)),
  },
  observe: (route, method, status, ms) => metrics.observeRequest(route, method, status, ms),
  principals: {
    linkOf: (s) => links.get(s),
    isAdmin: (agent, s) => admins.has(s) || (agent !== undefined && admins.has(agent)),
    isFarmer: () => false,
  },
  routes: [(r) => registerPublicRoutes(r, { gateway: { agent: 'uhCAkbenchgateway', url }, offers: () => [], availableSlots: () => Promise.resolve(new Map()) })],
});

// The gateway's socket settings and connection caps (src/gateway/wiring/http-part.ts).
const server = createServer(app.callback());
server.headersTimeout = 20_000;
server.requestTimeout = 30_000;
server.keepAliveTimeout = 10_000;
new ConnectionLimiter({ maxConnections: 1000, maxConnectionsPerSubnet: 100 }).attach(server);
server.on('error', (err) => {
  process.stderr.write(`auth-path-server: listen on [${address}]:${port}: ${err.message}\n`);
  process.exit(1);
});
// bench/auth-path waits for this line before it sends load.
server.listen({ host: address, port, ipv6Only: true }, () => process.stdout.write(`auth-path listening on ${url}\n`));

const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
