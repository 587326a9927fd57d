// Runs inside the lab admin's network namespace: accepts connections on a Unix socket and connects each one to the gateway from the admin's address.
import { createServer, connect, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { splice } from './splice.js';

/** What the helper prints on stdout once its socket accepts connections. */
export const HELPER_READY = 'admin-proxy-helper ready';

/** How each line the helper writes on stderr about a failed gateway connection starts. */
export const HELPER_SAID = 'admin-proxy-helper: ';

/**
 * Listens on `socketPath` and pipes every connection to `[gatewayAddress]:gatewayPort`. A
 * Unix socket belongs to no network namespace, so the root-namespace side can reach it, while
 * the outgoing TCP connection is made here, with this namespace's (the admin's) source address.
 * `report` hears each failed connection to the gateway (the client only sees its connection end).
 * Returns a function that closes the socket, every open connection, and removes the socket file.
 */
export function serveHelper(socketPath: string, gatewayAddress: string, gatewayPort: number, ready: () => void, report: (line: string) => void = () => {}): () => void {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: gatewayAddress, port: gatewayPort });
    let connected = false;
    upstream.once('connect', () => (connected = true));
    upstream.once('error', (err) => report(`${connected ? 'the connection to' : 'cannot connect to'} [${gatewayAddress}]:${gatewayPort}${connected ? ' broke' : ''}: ${err.message}`));
    splice(client, upstream, open);
  });
  rmSync(socketPath, { force: true });
  server.listen(socketPath, ready);
  return () => {
    server.close();
    for (const s of open) s.destroy();
    rmSync(socketPath, { force: true });
  };
}

function main(argv: string[]): void {
  const [socketPath, gatewayAddress, portText] = argv;
  const port = Number(portText);
  if (!socketPath || !gatewayAddress || !Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write('usage: admin-proxy-helper SOCKET GATEWAY_ADDRESS PORT\n');
    process.exitCode = 2;
    return;
  }
  const close = serveHelper(socketPath, gatewayAddress, port, () => process.stdout.write(`${HELPER_READY}\n`), (line) => process.stderr.write(`${HELPER_SAID}${line}\n`));
  const stop = (): void => {
    close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent holds our stdin: when it goes away (even killed -9), stdin ends and so do we.
  process.stdin.on('end', stop).on('error', stop).resume();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
