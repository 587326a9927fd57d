// Start-up step one: the host's side of a gateway (its Mycelium address, clock, key, data folder) and listening on it.
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import { loadKeyFile, newIdentity, saveKeyFile, type Identity } from '../../identity/index.js';
import { ScaledClock, SystemClock, type Clock } from '../../protocol/clock.js';
import type { GatewayConfig } from '../config.js';
import { resolveListenAddress, ListenAddressError } from '../listen-address.js';

/** Where and as whom this gateway runs. */
export interface HostParts {
  readonly address: string;
  /** How the address was found (config, Mycelium's API), for the start-up log line. */
  readonly source: string;
  readonly url: string;
  readonly clock: Clock;
  readonly identity: Identity;
}

/**
 * Resolves the listen address and refuses one this host does not have before writing anything (no
 * key, no data folder); then makes the data folder (0700) and loads or creates the gateway key.
 */
export async function prepareHost(config: GatewayConfig, log: Logger): Promise<HostParts> {
  const { address, source } = await resolveListenAddress({ ...(config.listen !== undefined ? { explicit: config.listen } : {}), myceliumApiUrl: config.myceliumApiUrl });
  await probeAddress(address);
  const clock: Clock = config.lab ? new ScaledClock(config.lab.epochMs, config.lab.hourSeconds) : new SystemClock();
  if (config.lab) log.warn({ hourSeconds: config.lab.hourSeconds }, 'LAB MODE: one billed hour lasts %s real seconds', config.lab.hourSeconds);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const identity = loadOrCreateKey(config.keyFile, log);
  return { address, source, url: `http://[${address}]:${config.port}`, clock, identity };
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

/**
 * Binds [address] on an ephemeral port once and lets go, so an address this host lacks is refused
 * with listen's own error before any file is written. Not the real port: clients (agents
 * reconnecting after a restart) must never reach a server that is about to vanish.
 */
async function probeAddress(address: string): Promise<void> {
  const probe = createServer((_req, res) => res.socket?.destroy());
  await listen(probe, address, 0);
  probe.closeAllConnections();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/** Listens on [address]:port (IPv6 only), turning the two errors an operator can fix into clear ones. */
export function listen(server: Server, address: string, port: number): Promise<void> {
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
