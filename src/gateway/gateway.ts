// The gateway's lifecycle: start (wire every part, listen on the Mycelium address), status, and close.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { existsSync, mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { loadKeyFile, newIdentity, saveKeyFile, type Identity } from '../identity/index.js';
import type { Offer } from '../protocol/offer.js';
import { createApp } from './http/app.js';
import { registerPublicRoutes } from './http/public-routes.js';
import { registerLinkRoutes } from './http/link-routes.js';
import { registerCustomerRoutes } from './http/customer-routes.js';
import { LinkService } from './link/link-service.js';
import { LowdbStore } from './store/lowdb-store.js';
import type { Store } from './store/store.js';
import { ScaledClock, SystemClock, type Clock } from './clock.js';
import type { GatewayConfig } from './config.js';
import { resolveListenAddress, ListenAddressError } from './listen-address.js';
import { loadOffers } from './offers.js';

/** What `status()` reports. */
export interface GatewayStatus {
  readonly agent: string;
  readonly address: string;
  readonly port: number;
  readonly url: string;
  readonly pid: number;
}

/** Undo steps of a start-up, run in reverse when start fails or the gateway closes. */
class Closers {
  private readonly steps: (() => Promise<void> | void)[] = [];
  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }
  async run(log: Logger): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop() as () => Promise<void> | void;
      try {
        await step();
      } catch (err) {
        log.warn({ err }, 'gateway.close: a step failed');
      }
    }
  }
}

/** The running gateway. */
export class Gateway {
  private constructor(
    readonly config: GatewayConfig,
    readonly identity: Identity,
    readonly address: string,
    readonly clock: Clock,
    readonly store: Store,
    private readonly server: Server,
    private readonly closers: Closers,
    private readonly log: Logger,
  ) {}

  /** Starts every part; on any failure closes what it had opened and rethrows. */
  static async start(config: GatewayConfig, log: Logger): Promise<Gateway> {
    const closers = new Closers();
    try {
      const { address, source } = await resolveListenAddress({ ...(config.listen !== undefined ? { explicit: config.listen } : {}), myceliumApiUrl: config.myceliumApiUrl });
      const clock: Clock = config.lab ? new ScaledClock(config.lab.epochMs, config.lab.hourSeconds) : new SystemClock();
      if (config.lab) log.warn({ hourSeconds: config.lab.hourSeconds }, 'LAB MODE: one billed hour lasts %s real seconds', config.lab.hourSeconds);
      mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
      const identity = loadOrCreateKey(config.keyFile, log);
      const store = await LowdbStore.open(config.dataDir);
      closers.add(() => store.close());
      const offers: Offer[] = loadOffers(config.offersFile, config.prices);
      const url = `http://[${address}]:${config.port}`;
      // Link challenges expire in real seconds: a security timeout, not an hour-stated policy the lab scales.
      const links = new LinkService(store.links, new SystemClock(), { agent: identity.agent, address }, config.link, (outcome, detail) =>
        log.info({ outcome, ...detail }, 'link'),
      );
      const admins = new Set(config.admins);
      const app = createApp({
        log,
        principals: {
          linkOf: (subnet) => store.links.get(subnet),
          isAdmin: (agent, subnet) => admins.has(subnet) || (agent !== undefined && admins.has(agent)),
          isFarmer: (agent) => store.agents.get(agent)?.state === 'approved',
        },
        routes: [
          (r) => registerPublicRoutes(r, { gateway: { agent: identity.agent, url }, offers: () => offers, availableSlots: () => Promise.resolve(0) }),
          (r) => registerLinkRoutes(r, links),
          (r) => registerCustomerRoutes(r, { gatewayUrl: url, deployments: store.deployments }),
        ],
      });
      const server = createServer(app.callback());
      server.headersTimeout = 20_000;
      server.requestTimeout = 30_000;
      server.keepAliveTimeout = 10_000;
      const sockets = new Set<Socket>();
      server.on('connection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      await listen(server, address, config.port);
      closers.add(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
            setTimeout(() => {
              for (const s of sockets) s.destroy();
            }, 2000).unref();
          }),
      );
      log.info({ address, source, port: config.port, agent: identity.agent, dataDir: config.dataDir }, 'gateway listening on %s', url);
      return new Gateway(config, identity, address, clock, store, server, closers, log);
    } catch (err) {
      await closers.run(log);
      throw err;
    }
  }

  status(): GatewayStatus {
    return { agent: this.identity.agent, address: this.address, port: this.config.port, url: `http://[${this.address}]:${this.config.port}`, pid: process.pid };
  }

  /** Stops accepting, finishes in-flight work, and closes every part in reverse order. */
  async close(): Promise<void> {
    this.log.info('gateway shutting down');
    await this.closers.run(this.log);
    this.log.info('gateway stopped');
  }

  /** The HTTP server (for tests that need its address). */
  get httpServer(): Server {
    return this.server;
  }
}

function loadOrCreateKey(path: string, log: Logger): Identity {
  if (!existsSync(path)) {
    const identity = newIdentity();
    saveKeyFile(path, identity);
    log.info({ agent: identity.agent, keyFile: path }, 'created the gateway key');
    return identity;
  }
  return loadKeyFile(path);
}

function listen(server: Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (err.code === 'EADDRNOTAVAIL') {
        reject(new ListenAddressError(`${address} is not an address of this host: is Mycelium running, and is this its address? (listen: ${err.message})`));
      } else if (err.code === 'EADDRINUSE') {
        reject(new ListenAddressError(`[${address}]:${port} is already in use: is another gateway running?`));
      } else reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: address, port, ipv6Only: true });
  });
}
