// Connection caps: a total for the server and one per /64, so one /64 cannot take every connection.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { parseIpv6, subnet64Of } from '../../identity/index.js';

/** The caps, from the config (`http.maxConnections`, `http.maxConnectionsPerSubnet`). */
export interface ConnectionCaps {
  readonly maxConnections: number;
  readonly maxConnectionsPerSubnet: number;
}

/**
 * What a peer's connections are counted under: its /64 for an IPv6 peer (Mycelium authenticates
 * the /64, so one /64 is one party), the address itself otherwise.
 */
export function connectionKeyOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return '';
  if (!remoteAddress.includes(':') || remoteAddress.startsWith('::ffff:')) return remoteAddress;
  try {
    return subnet64Of(parseIpv6(remoteAddress));
  } catch {
    return remoteAddress;
  }
}

/** Counts open connections per key and refuses the ones over the caps. */
export class ConnectionLimiter {
  private readonly open = new Map<string, number>();
  private refused = 0;

  constructor(private readonly caps: ConnectionCaps) {}

  /**
   * Sets `server.maxConnections` (Node closes connections past it before any byte is read) and
   * counts the rest per /64, destroying a connection that would go past its /64's cap. Attach it
   * before other 'connection' listeners that keep sockets.
   */
  attach(server: Server): void {
    server.maxConnections = this.caps.maxConnections;
    server.on('drop', () => this.refused++);
    server.on('connection', (socket: Socket) => this.admit(socket));
  }

  /** Connections refused so far, over either cap. */
  refusedTotal(): number {
    return this.refused;
  }

  /** Open connections counted for `key`. */
  openFor(key: string): number {
    return this.open.get(key) ?? 0;
  }

  private admit(socket: Socket): void {
    const key = connectionKeyOf(socket.remoteAddress);
    const n = this.open.get(key) ?? 0;
    if (n >= this.caps.maxConnectionsPerSubnet) {
      this.refused++;
      socket.destroy();
      return;
    }
    this.open.set(key, n + 1);
    socket.once('close', () => {
      const left = (this.open.get(key) ?? 1) - 1;
      if (left <= 0) this.open.delete(key);
      else this.open.set(key, left);
    });
  }
}
