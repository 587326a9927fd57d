// The lab proxy's helper on real sockets: a Unix socket in, TCP to a real Node HTTP server out, as `hypha lab proxy` uses it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { serveHelper } from '../../src/lab/admin-proxy-helper.js';
import { scratchDir } from '../helpers/paths.js';

interface Answer {
  readonly status: number;
  readonly body: string;
  /** The error the request saw, if any (after or instead of its answer). */
  readonly error?: string;
}

/** Starts `server` on ::1 and returns its port. */
async function listenLocal(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Starts the helper on a Unix socket in a scratch folder, towards `[::1]:port`; stops it when the test ends. */
async function helperTo(t: { after(fn: () => unknown): void }, port: number): Promise<{ socketPath: string; said: string[] }> {
  const { dir, remove } = scratchDir('hypha-proxy-helper-');
  const socketPath = join(dir, 'h.sock');
  const said: string[] = [];
  await new Promise<void>((resolve) => {
    const close = serveHelper(socketPath, '::1', port, resolve, (line) => said.push(line));
    t.after(() => {
      close();
      remove();
    });
  });
  return { socketPath, said };
}

/** A POST through the helper, as the proxy sends it: its own connection, a body written in `chunks` pieces 20 ms apart. */
function postThrough(socketPath: string, chunks: number, chunk = 'x'.repeat(16 * 1024)): Promise<Answer> {
  return new Promise((resolve) => {
    let status = 0;
    let body = '';
    let error: string | undefined;
    const req = request({ createConnection: () => connect(socketPath), method: 'POST', path: '/page/orders', headers: { host: 'gw', 'content-type': 'application/x-www-form-urlencoded' } }, (res: IncomingMessage) => {
      status = res.statusCode ?? 0;
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
    });
    req.on('error', (err) => (error = err.message));
    // Judged once the request is over, with time for a late write error to show.
    req.on('close', () => setTimeout(() => resolve({ status, body, ...(error ? { error } : {}) }), 200));
    let n = 0;
    const next = (): void => {
      if (req.destroyed) return;
      if (n++ < chunks) {
        req.write(chunk);
        setTimeout(next, 20);
      } else req.end();
    };
    next();
  });
}

test('a gateway that answers before it has read the body: the client gets that answer, and its own writes do not fail', async (t) => {
  // Node's HTTP server does this for any answer sent without reading the body (a refusal): it
  // answers, then closes the connection while the client is still sending.
  const gateway = createServer((_req, res) => {
    res.writeHead(429, { 'content-type': 'application/json', connection: 'close' });
    res.end('{"error":{"code":"rate_limited"}}');
  });
  t.after(() => gateway.close());
  const { socketPath, said } = await helperTo(t, await listenLocal(gateway));
  const answer = await postThrough(socketPath, 10);
  assert.equal(answer.status, 429, `the gateway's own answer reaches the client (got ${JSON.stringify(answer)})`);
  assert.equal(answer.body, '{"error":{"code":"rate_limited"}}');
  assert.equal(answer.error, undefined, 'the rest of the body is taken and dropped, not refused with EPIPE');
  assert.deepEqual(said, []);
});

test('a request and its answer pass both ways intact, a large body included', async (t) => {
  const gateway = createServer((req, res) => {
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${req.method} ${req.url} ${n} ${'y'.repeat(300_000)}`);
    });
  });
  t.after(() => gateway.close());
  const { socketPath } = await helperTo(t, await listenLocal(gateway));
  const answer = await postThrough(socketPath, 8);
  assert.equal(answer.error, undefined);
  assert.equal(answer.status, 200);
  assert.equal(answer.body, `POST /page/orders ${8 * 16 * 1024} ${'y'.repeat(300_000)}`);
});

test('a gateway that cannot be reached: the client\'s connection ends, and the helper says why', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const probe = createTcpServer();
  await new Promise<void>((resolve) => probe.listen(0, '::1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const { socketPath, said } = await helperTo(t, port);
  const answer = await postThrough(socketPath, 1);
  assert.equal(answer.status, 0, 'no answer was made up');
  assert.ok(answer.error, 'the client sees its connection end');
  assert.equal(said.length, 1, said.join('\n'));
  assert.match(said[0] ?? '', new RegExp(`^cannot connect to \\[::1\\]:${port}: connect ECONNREFUSED`));
});
