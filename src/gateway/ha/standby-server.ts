// What a standby gateway answers on its own address: 503 with the active gateway's URL for customers, browsers and agents, a status line and /metrics for admins.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { listen } from '../wiring/host.js';
import { resolvePrincipal } from '../http/principal.js';
import { errorBody, PublicError } from '../http/public-error.js';
import { standbyMetrics } from './standby-metrics.js';
import { isPageNavigation, standbyPage, STANDBY_PAGE_HEADERS } from './standby-page.js';

/** What the standby shows. */
export interface StandbyView {
  /** The active gateway's URL, when the lease names one. */
  activeUrl(): string | undefined;
  /** The lease database's outage, or null. */
  outage(): string | null;
}

/** Seconds a client should wait before trying again (a takeover is bounded by `ha.takeoverSeconds`). */
const RETRY_AFTER_SECONDS = 5;

/**
 * The body every refused customer or agent gets, in the contract's error shape (code "standby"): the
 * active gateway's URL as `error.active` when one is known, or, while this gateway cannot reach its
 * database, a message that nothing is written until it can.
 */
export function standbyBody(activeUrl: string | undefined, outage: string | null = null): string {
  const message =
    outage !== null
      ? `this gateway cannot reach its database: nothing is written here (no order, payment or change) until it can; try again shortly${activeUrl !== undefined ? `, or at the active gateway last seen, ${activeUrl}` : ''}`
      : activeUrl !== undefined
        ? `this gateway is a standby; the active gateway is ${activeUrl}`
        : 'this gateway is a standby and no active gateway holds the lease right now; try again shortly';
  return JSON.stringify(errorBody(new PublicError('standby', message, undefined, activeUrl !== undefined ? { active: activeUrl } : {})));
}

/** One line for an admin: role, where the active one is, and the database's state. */
export function standbyStatusLine(view: StandbyView): string {
  const db = view.outage();
  return `standby: active gateway ${view.activeUrl() ?? 'unknown (none holds the lease)'}; lease database ${db === null ? 'reachable' : `UNREACHABLE (${db})`}\n`;
}

/**
 * Whether the peer is an admin by its /64 (the config's `admins`), resolved as the active gateway
 * resolves callers. A standby reads no links, so an admin named by AgentPubKey is not known here.
 */
function isAdminPeer(remoteAddress: string | undefined, admins: ReadonlySet<string>): boolean {
  try {
    return resolvePrincipal(remoteAddress, { linkOf: () => undefined, isAdmin: (_agent, subnet) => admins.has(subnet), isFarmer: () => false }).roles.includes('admin');
  } catch {
    return false; // not a Mycelium address: not an admin
  }
}

/**
 * Answers `GET /metrics` from an admin /64 with 200 and the standby's metrics (so a scrape sees a
 * healthy standby, `hypha_ha_active 0`), and every other request with 503: `/admin…` with the
 * status line (text), a browser opening or posting the customer page with a short HTML page
 * (standby-page.ts), everything else (a non-admin's /metrics too) with the JSON body and a
 * `Location` header pointing at the same path on the active gateway; an agent's WebSocket upgrade
 * gets the same 503 (the agent then tries the active URL). Nothing is read from the request but
 * its method, path and peer address, and nothing is written anywhere.
 */
export function standbyHandler(view: StandbyView, admins: readonly string[]): { request(req: IncomingMessage, res: ServerResponse): void; upgrade(req: IncomingMessage, socket: Duplex): void } {
  const adminSet = new Set(admins);
  const metrics = standbyMetrics(() => view.outage());
  return {
    request(req, res) {
      const active = view.activeUrl();
      const path = (req.url ?? '/').startsWith('/') ? (req.url ?? '/') : '/';
      res.setHeader('Cache-Control', 'no-store');
      if (req.method === 'GET' && path.split('?')[0] === '/metrics' && isAdminPeer(req.socket.remoteAddress, adminSet)) {
        metrics.text().then(
          (text) => res.writeHead(200, { 'Content-Type': metrics.contentType }).end(text),
          () => res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('metrics could not be collected\n'),
        );
        return;
      }
      res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
      if (path === '/admin' || path.startsWith('/admin/')) {
        res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' }).end(standbyStatusLine(view));
        return;
      }
      if (active !== undefined) res.setHeader('Location', `${active}${path}`);
      if (isPageNavigation(req.method, path, req.headers)) {
        const page = standbyPage({ method: req.method ?? 'GET', path, activeUrl: active, outage: view.outage() !== null, retryAfterSeconds: RETRY_AFTER_SECONDS });
        res.writeHead(503, STANDBY_PAGE_HEADERS).end(req.method === 'HEAD' ? undefined : page);
        return;
      }
      res.writeHead(503, { 'Content-Type': 'application/json' }).end(standbyBody(active, view.outage()));
    },
    upgrade(_req, socket) {
      const body = standbyBody(view.activeUrl(), view.outage());
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nRetry-After: ${RETRY_AFTER_SECONDS}\r\nConnection: close\r\n\r\n${body}`);
    },
  };
}

/** Starts the standby's server on the gateway's address; resolves to its closer. */
export async function startStandbyServer(address: string, port: number, view: StandbyView, admins: readonly string[], log: Logger): Promise<() => Promise<void>> {
  const handler = standbyHandler(view, admins);
  const server: Server = createServer((req, res) => handler.request(req, res));
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex) => handler.upgrade(req, socket));
  server.on('clientError', (_err, socket) => socket.destroy());
  await listen(server, address, port);
  log.info({ address, port }, 'standby: answering 503 with the active gateway\'s URL on [%s]:%d', address, port);
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
}
