// `hypha lab proxy ACTOR` (and `admin-proxy`): a loopback HTTP port in the root namespace whose requests reach the gateway from an actor's Mycelium address.
import { connect, type Socket } from 'node:net';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { errorMessage } from '../identity/error-message.js';
import { LabError, actorOf } from './lab.js';
import { hyphaCommand, readLabState } from './lab-state.js';
import { spawnInNamespace } from './netns.js';
import { HELPER_READY, HELPER_SAID } from './admin-proxy-helper.js';
import { OriginPolicy, guardedRequest } from '../gateway/http/origin-guard.js';
import { errorBody } from '../gateway/http/public-error.js';

/** The helper script run inside the admin's namespace (compiled beside this file). */
const HELPER = fileURLToPath(new URL('./admin-proxy-helper.js', import.meta.url));

/** Linux limits a Unix socket path to 108 bytes (sun_path), the terminating NUL included. */
const MAX_SOCKET_PATH = 107;

/** How long the helper may take to start. */
const HELPER_START_MS = 10_000;

/** What to proxy. */
export interface AdminProxyOptions {
  /** The lab folder (holds lab.json). */
  readonly dir: string;
  /** The loopback port to listen on; 0 or absent: a free one. */
  readonly port?: number;
  /** The actor whose address the gateway sees; `admin` by default. */
  readonly actor?: string;
}

/** A running proxy. */
export interface AdminProxy {
  /** The status page's URL on this machine, e.g. http://127.0.0.1:41234/admin. */
  readonly url: string;
  /** The customer page's URL on this machine, e.g. http://127.0.0.1:41234/. */
  readonly home: string;
  readonly port: number;
  /** The source address the gateway sees: the actor's Mycelium address. */
  readonly via: string;
  /** The gateway's URL inside the lab. */
  readonly gateway: string;
  /** Stops listening, ends open connections, stops the helper and removes its socket. */
  close(): Promise<void>;
}

/**
 * Starts the proxy. A process cannot move between network namespaces, so the work is split:
 * a helper runs in the actor's namespace (`ip netns exec`) and listens on a Unix socket in
 * the lab folder (Unix sockets belong to no network namespace); this process serves HTTP on
 * 127.0.0.1 in the root namespace, checks each request's Host, Origin and Sec-Fetch-Site against
 * its own origin (see `forward`), and sends it through that socket; the helper opens the TCP
 * connection to the gateway, from the actor's address.
 */
export async function startAdminProxy(options: AdminProxyOptions): Promise<AdminProxy> {
  const state = readLabState(options.dir);
  if (!state) throw new LabError(`no lab is up in ${options.dir}; start one with \`${hyphaCommand()} lab up\``);
  const actor = actorOf(state, options.actor ?? 'admin');
  // Anyone who can open the socket speaks as the admin: it lives in a folder only root can enter.
  const socketDir = join(options.dir, 'admin-proxy');
  mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  const socketPath = join(socketDir, `${process.pid}.sock`);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) throw new LabError(`the socket path ${socketPath} is longer than the ${MAX_SOCKET_PATH} bytes Linux allows; use a lab --dir with a shorter path`);

  const helper = spawnInNamespace(actor.ns, process.execPath, [HELPER, socketPath, state.gateway.address, String(state.gateway.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const removeSocket = (): void => {
    rmSync(socketPath, { force: true });
    try {
      if (readdirSync(socketDir).length === 0) rmdirSync(socketDir);
    } catch {
      // Another proxy of this lab still uses the folder, or it is gone already.
    }
  };
  try {
    await helperReady(helper);
  } catch (err) {
    await stopHelper(helper);
    removeSocket();
    throw err;
  }

  const helperWords = lastHelperWords(helper);
  const open = new Set<Socket>();
  const gatewayHost = `[${state.gateway.address}]:${state.gateway.port}`;
  // Known once the port is: every request arrives after listen() resolved.
  let policy: OriginPolicy | null = null;
  const server = createServer((req, res) => forward(req, res, { policy: policy as OriginPolicy, socketPath, gatewayHost, helperWords }));
  server.on('connection', (s) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  });
  let port: number;
  try {
    port = await listen(server, options.port ?? 0);
  } catch (err) {
    await stopHelper(helper);
    removeSocket();
    throw new LabError(`admin-proxy: cannot listen on 127.0.0.1:${options.port ?? 0}: ${errorMessage(err)}`);
  }
  policy = new OriginPolicy([`127.0.0.1:${port}`]);
  let closing: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${port}/admin`,
    home: `http://127.0.0.1:${port}/`,
    port,
    via: actor.address,
    gateway: state.gateway.url,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of open) s.destroy();
        await closed;
        await stopHelper(helper);
        removeSocket();
      })();
      return closing;
    },
  };
}

/** Where one request goes, and what it must pass first. */
interface ForwardTarget {
  readonly policy: OriginPolicy;
  readonly socketPath: string;
  /** The gateway's `[address]:port`, the Host it answers to. */
  readonly gatewayHost: string;
  /** What the helper last said about a failed gateway connection, once (then forgotten). */
  readonly helperWords: () => string | undefined;
}

/** Headers that belong to one hop (RFC 9110 section 7.6.1), never passed on. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-authenticate']);

/**
 * Passes one request on to the gateway through the helper, after the same Host, Origin and
 * Sec-Fetch-Site checks the gateway makes, against this proxy's own origin: every page a browser
 * on this machine opens can reach 127.0.0.1, and anything sent through here acts as the admin.
 * The Host (and a same-origin Origin) are rewritten to the gateway's, which would refuse ours.
 */
function forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget): void {
  const refused = target.policy.check(guardedRequest(req.method ?? 'GET', req.headers));
  if (refused) {
    res.writeHead(refused.status, { 'content-type': 'application/json', connection: 'close', 'cache-control': 'no-store' });
    res.end(JSON.stringify(errorBody(refused)));
    req.resume();
    return;
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_HEADERS.has(name)) headers[name] = value;
  headers.host = target.gatewayHost;
  if (typeof req.headers.origin === 'string' && target.policy.isOwnOrigin(req.headers.origin)) headers.origin = `http://${target.gatewayHost}`;
  // No agent: with createConnection and no agent, each request gets its own connection through the helper.
  const upstream = request({ createConnection: () => connect(target.socketPath), method: req.method, path: req.url, headers }, (answer) => {
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !HOP_HEADERS.has(name)) out[name] = value;
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, out);
    answer.pipe(res);
  });
  upstream.on('error', (err) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // The helper sees the gateway connection fail; this side only sees the helper's socket end.
    const said = target.helperWords();
    res.writeHead(502, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ error: { code: 'unavailable', message: `admin-proxy: the gateway cannot be reached: ${err.message}${said ? ` (helper: ${said})` : ''}`, hint: 'is the lab up? (hypha lab status)' } }));
  });
  req.pipe(upstream);
}

function helperReady(helper: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new LabError(`admin-proxy: the helper did not start within ${HELPER_START_MS / 1000} s${err ? `: ${err.trim()}` : ''}`)), HELPER_START_MS);
    const onErr = (chunk: Buffer): void => void (err += chunk.toString('utf8'));
    const done = (): void => {
      clearTimeout(timer);
      helper.stderr?.removeListener('data', onErr);
      helper.stdout?.removeListener('data', onOut);
      helper.removeListener('exit', onExit);
      helper.removeListener('error', fail);
    };
    function fail(e: Error): void {
      done();
      reject(e);
    }
    function onOut(chunk: Buffer): void {
      out += chunk.toString('utf8');
      if (out.includes(HELPER_READY)) {
        done();
        resolve();
      }
    }
    function onExit(code: number | null): void {
      fail(new LabError(`admin-proxy: the helper exited (${code ?? 'signal'}) before it was ready${err ? `: ${err.trim()}` : ''}`));
    }
    helper.stderr?.on('data', onErr);
    helper.stdout?.on('data', onOut);
    helper.once('exit', onExit);
    helper.once('error', fail);
  });
}

/** The longest helper line kept. */
const MAX_HELPER_LINE = 400;

/**
 * Follows the running helper's stderr: each line is passed on to this process's stderr, and the
 * last one about a gateway connection is kept (bounded) for the next 502 to quote.
 */
function lastHelperWords(helper: ChildProcess): () => string | undefined {
  let last: string | undefined;
  let partial = '';
  helper.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = (lines.pop() ?? '').slice(-MAX_HELPER_LINE);
    for (const line of lines) {
      process.stderr.write(`${line}\n`);
      if (line.startsWith(HELPER_SAID)) last = line.slice(HELPER_SAID.length, HELPER_SAID.length + MAX_HELPER_LINE);
    }
  });
  return () => {
    const said = last;
    last = undefined;
    return said;
  };
}

async function stopHelper(helper: ChildProcess): Promise<void> {
  if (helper.exitCode !== null || helper.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => helper.once('exit', () => resolve()));
  helper.kill('SIGTERM');
  const timer = setTimeout(() => helper.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
  helper.stdin?.destroy();
  helper.stdout?.destroy();
  helper.stderr?.destroy();
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/**
 * Asks the gateway, through the proxy, who it thinks the caller is, and says in one line whether
 * the page will open: the lab's admin is an AgentPubKey in the config, so its /64 must be linked.
 */
export async function describeCaller(proxy: AdminProxy, actor = 'admin'): Promise<string> {
  try {
    const r = await fetch(new URL('/v1/whoami', proxy.url), { signal: AbortSignal.timeout(5000) });
    const who = (await r.json()) as { roles?: string[]; agent?: string };
    if (actor !== 'admin') return who.agent === undefined ? `the gateway sees ${proxy.via}, not linked yet: the page says how (or \`${hyphaCommand()} lab link ${actor}\`)` : `the gateway sees ${proxy.via} as ${who.agent}`;
    if (who.roles?.includes('admin')) return `the gateway sees ${proxy.via} as admin ${who.agent ?? ''}`.trimEnd();
    if (who.agent === undefined) return `the gateway sees ${proxy.via}, which is not linked yet: run \`${hyphaCommand()} lab link admin\` (the page answers 401 until then)`;
    return `the gateway sees ${proxy.via} as ${who.agent}, which is not an admin (the page answers 403)`;
  } catch (err) {
    return `could not ask the gateway who the proxy is (${errorMessage(err)}); is the gateway running? (${hyphaCommand()} lab status)`;
  }
}
