// HTTP from a chosen local source address: a JSON client for set-up steps, and a raw-bytes sender for requests no client library would send.
import { request } from 'node:http';
import { connect } from 'node:net';

/** Where the gateway listens. */
export interface Target {
  readonly host: string;
  readonly port: number;
}

/** A JSON answer. */
export interface JsonAnswer {
  readonly status: number;
  readonly text: string;
  /** The parsed body, when it is JSON. */
  readonly json: unknown;
  readonly ms: number;
}

/** One request with node:http from `from`; `body` is sent as JSON (a string as is). */
export function jsonRequest(target: Target, from: string, method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<JsonAnswer> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.host,
        port: target.port,
        family: 6,
        localAddress: from,
        method,
        path,
        agent: false,
        timeout: timeoutMs,
        headers: text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const out = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(out);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text: out, json, ms: Number(process.hrtime.bigint() - started) / 1e6 });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(text);
  });
}

/** What came back for raw bytes: the first status line's code (null when none came) and the start of the answer. */
export interface RawAnswer {
  readonly status: number | null;
  /** Up to 2 KiB of the answer, for a failure message. */
  readonly head: string;
  /** The connection ended without any answer, or timed out. */
  readonly error?: string;
}

/**
 * Writes `bytes` on a fresh TCP connection from `from` and reads until the server closes it (the
 * request should say `connection: close`) or `timeoutMs` passes.
 */
export function rawRequest(target: Target, from: string, bytes: Buffer, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.host, port: target.port, localAddress: from, family: 6 });
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      // Interim answers (100 Continue) come first; the status is the first final one.
      const final = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1])).find((code) => code >= 200);
      resolve({ status: final ?? null, head: text.slice(0, 2048), ...(error === undefined ? {} : { error }) });
    };
    const timer = setTimeout(() => finish(`no end of answer within ${timeoutMs} ms`), timeoutMs);
    socket.on('data', (c: Buffer) => {
      if (size < 64 * 1024) chunks.push(c);
      size += c.length;
    });
    socket.on('end', () => finish());
    socket.on('close', () => finish());
    socket.on('error', (err) => finish(err.message));
    socket.on('connect', () => socket.write(bytes));
  });
}
