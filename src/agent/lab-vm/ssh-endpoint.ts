// A lab VM's SSH server (ssh2) on its own address: public-key login as root, connection limits, and hang-up on close.
import type { ChildProcess } from 'node:child_process';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { AuthContext, Connection } from 'ssh2';
import { errorMessage } from '../../identity/error-message.js';
import { VmDriverError } from '../vm-driver.js';
import { sameBytes, type AuthorizedKey } from './authorized-keys.js';
import { hangUp, serveSession } from './shell-session.js';
import type { VmUser } from './vm-user.js';

/** sshd's MaxAuthTries default: failed key offers allowed before the connection is dropped. */
const MAX_AUTH_TRIES = 6;
/** How long a client may take to authenticate; sshd's LoginGraceTime is 120 s, a lab needs less. */
const LOGIN_GRACE_MS = 30_000;
/** Concurrent TCP connections per VM: each session forks a shell, so a lab VM caps them. */
const MAX_CONNECTIONS_PER_VM = 32;
/** How long a connection told to end may linger before its socket is destroyed. */
const END_GRACE_MS = 1_000;

/** What one VM's endpoint serves. */
export interface VmEndpointOptions {
  readonly address: string;
  readonly port: number;
  readonly hostKeyPem: Buffer;
  /** The keys that may log in now; read at every login, so a key swap applies at once. */
  readonly authorized: () => readonly AuthorizedKey[];
  readonly home: string;
  readonly user: VmUser;
  /** Called with the key's blob each time a key logs in with a verified signature (access escrow). */
  readonly onLogin?: (keyBlob: Buffer) => void;
}

/** One client TCP connection and what runs on its behalf. */
interface LiveConnection {
  readonly conn: Connection;
  readonly socket: Socket;
  /** The public blob of the key that logged in; unset until authenticated. */
  keyBlob?: Buffer;
  readonly children: Set<ChildProcess>;
}

/** A running VM's listener and its open connections. */
export class VmSshEndpoint {
  private readonly sockets = new Map<string, Socket>();
  private readonly connections = new Set<LiveConnection>();

  private constructor(
    private readonly server: NetServer,
    private readonly options: VmEndpointOptions,
  ) {}

  /** Listens on [address]:port; rejects with a VmDriverError when the address cannot be bound. */
  static async listen(options: VmEndpointOptions): Promise<VmSshEndpoint> {
    const endpoint = new VmSshEndpoint(createServer(), options);
    const ssh = new ssh2.Server({ hostKeys: [options.hostKeyPem] }, (conn, info) => {
      const socket = endpoint.sockets.get(socketKey(info.ip, info.port));
      if (!socket) {
        conn.end();
        return;
      }
      endpoint.serveConnection(conn, socket);
    });
    // Our own listener hands sockets to ssh2, so pause can destroy sockets that will not close.
    const server = endpoint.server;
    server.maxConnections = MAX_CONNECTIONS_PER_VM;
    server.on('connection', (socket) => {
      const key = socketKey(socket.remoteAddress, socket.remotePort);
      socket.on('error', () => undefined);
      socket.once('close', () => endpoint.sockets.delete(key));
      endpoint.sockets.set(key, socket);
      ssh.injectSocket(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: options.address, port: options.port }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw new VmDriverError('failed', `cannot listen on [${options.address}]:${options.port}: ${errorMessage(err)}`, { cause: err });
    });
    server.on('error', () => undefined);
    return endpoint;
  }

  /** Ends the connections that logged in with a key no longer in `authorized`. */
  endUnauthorized(authorized: readonly AuthorizedKey[]): void {
    for (const live of this.connections) {
      if (live.keyBlob && !authorized.some((k) => sameBytes(k.blob, live.keyBlob as Buffer))) endConnection(live);
    }
  }

  /** Closes the listener, ends its connections and their processes, and waits until they are gone. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const hangUps = [...this.connections].flatMap((live) => [...live.children].map(hangUp));
    for (const live of this.connections) live.conn.end();
    const timer = setTimeout(() => {
      for (const socket of this.sockets.values()) socket.destroy();
    }, END_GRACE_MS);
    await closed;
    clearTimeout(timer);
    await Promise.all(hangUps);
  }

  private serveConnection(conn: Connection, socket: Socket): void {
    const live: LiveConnection = { conn, socket, children: new Set() };
    this.connections.add(live);
    // A client resetting mid-session is routine; an unheard 'error' would crash the agent.
    conn.on('error', () => undefined);
    const loginTimer = setTimeout(() => endConnection(live), LOGIN_GRACE_MS).unref();
    conn.on('close', () => {
      clearTimeout(loginTimer);
      this.connections.delete(live);
      for (const child of live.children) void hangUp(child);
    });
    let failures = 0;
    conn.on('authentication', (ctx: AuthContext) => {
      const key = checkLogin(this.options.authorized(), ctx);
      if (!key) {
        // "none" is how every client starts: answering it with the methods left is not a failure.
        if (ctx.method !== 'none' && ++failures >= MAX_AUTH_TRIES) {
          endConnection(live);
          return;
        }
        ctx.reject(['publickey']);
        return;
      }
      if (ctx.method === 'publickey' && ctx.signature !== undefined) {
        live.keyBlob = key.blob;
        this.options.onLogin?.(key.blob);
      }
      ctx.accept();
    });
    conn.on('ready', () => {
      clearTimeout(loginTimer);
      const context = { home: this.options.home, user: this.options.user, children: live.children };
      conn.on('session', (accept) => serveSession(context, accept()));
    });
  }
}

/** The key that may log in with `ctx`, or undefined: user root, publickey only, type + blob match, and a valid signature once sent. */
function checkLogin(authorized: readonly AuthorizedKey[], ctx: AuthContext): AuthorizedKey | undefined {
  if (ctx.method !== 'publickey' || ctx.username !== 'root') return undefined;
  const key = authorized.find((k) => k.type === ctx.key.algo && sameBytes(k.blob, ctx.key.data));
  if (!key) return undefined;
  // Without a signature the client only asks whether this key would do (RFC 4252 section 7).
  if (ctx.signature === undefined) return key;
  if (ctx.blob === undefined || key.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return undefined;
  return key;
}

/** Says goodbye to a client, and destroys its socket if it does not leave. */
function endConnection(live: LiveConnection): void {
  live.conn.end();
  setTimeout(() => live.socket.destroy(), END_GRACE_MS).unref();
  for (const child of live.children) void hangUp(child);
}

function socketKey(address: string | undefined, port: number | undefined): string {
  return `${address ?? ''}|${port ?? 0}`;
}
