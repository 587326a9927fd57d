// Request bodies: JSON only, 64 KiB at most, read before any handler so a bad body never reaches business logic.
import type { Context, Next } from 'koa';
import { errorMessage } from '../../identity/error-message.js';
import { PublicError } from './public-error.js';
import { isPageForm, parseFormBody } from './form-body.js';
import { MAX_SEALED_BYTES_PER_ORDER } from '../../protocol/sealed-secret.js';

/** The largest request body accepted (docs/api.md "Errors"). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The largest order body: an order may carry sealed secrets (protocol/sealed-secret.ts), up to
 * MAX_SEALED_BYTES_PER_ORDER of boxes in base64, plus the 64 KiB of everything else.
 */
export const MAX_ORDER_BODY_BYTES = MAX_BODY_BYTES + Math.ceil(MAX_SEALED_BYTES_PER_ORDER / 3) * 4 + 4096;

/** The body limit of a request: orders may carry sealed secrets, everything else 64 KiB. */
function limitOf(ctx: Context): number {
  return ctx.method === 'POST' && ctx.path === '/v1/orders' ? MAX_ORDER_BODY_BYTES : MAX_BODY_BYTES;
}

/**
 * Content types read as JSON: application/json, any +json type, and curl's default for -d
 * (application/x-www-form-urlencoded), so `curl -d '{"agent": "…"}'` works without -H.
 */
const JSON_TYPES = /^application\/(?:(?:[\w.+-]+\+)?json|x-www-form-urlencoded)\s*(?:;|$)/i;

/**
 * Reads the body of POST/PUT/PATCH/DELETE into `ctx.state.body`: 413 past 64 KiB (counted
 * while streaming, so a huge upload is cut off early), 415 for a content type that is not
 * JSON (text/plain, multipart), 400 for text that does not parse. An empty body is `undefined`.
 * The customer page's form posts (under /page/) are read as forms instead (form-body.ts).
 */
export async function jsonBody(ctx: Context, next: Next): Promise<void> {
  if (hasBody(ctx.method)) await readJsonBody(ctx);
  await next();
}

/** The methods whose body jsonBody reads: the rest carry none the gateway reads. */
export function hasBody(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE';
}

/** jsonBody's work for a method with a body: `ctx.state.body` is set, or a 4xx is thrown. */
export async function readJsonBody(ctx: Context): Promise<void> {
  const limit = limitOf(ctx);
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > limit) throw tooLarge(limit);
  const raw = await readLimited(ctx, limit);
  if (raw.length === 0) {
    ctx.state.body = undefined;
    return;
  }
  const type = ctx.get('content-type');
  if (isPageForm(ctx.path, type)) {
    ctx.state.body = parseFormBody(raw.toString('utf8'));
    return;
  }
  if (type !== '' && !JSON_TYPES.test(type)) {
    throw new PublicError('unsupported_media_type', `content-type ${JSON.stringify(type.slice(0, 80))} is not JSON`, 'send -H "content-type: application/json"');
  }
  try {
    ctx.state.body = JSON.parse(raw.toString('utf8')) as unknown;
  } catch (err) {
    throw new PublicError('bad_request', `the body is not valid JSON: ${errorMessage(err)}`, 'check quoting; curl -d \'{"key": "value"}\'', { field: 'body' });
  }
}

function tooLarge(limit: number): PublicError {
  return new PublicError('payload_too_large', `request bodies are limited to ${limit} bytes`);
}

function readLimited(ctx: Context, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const req = ctx.req;
    const finish = (err: Error | null, value?: Buffer): void => {
      if (done) return;
      done = true;
      req.removeAllListeners('data');
      if (err) {
        // Stop reading the rest of an oversized upload; the response closes the connection.
        ctx.set('connection', 'close');
        req.resume();
        reject(err);
      } else resolve(value as Buffer);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish(tooLarge(limit));
      else chunks.push(chunk);
    });
    req.on('end', () => finish(null, Buffer.concat(chunks)));
    req.on('error', (err) => finish(new PublicError('bad_request', `the request body could not be read: ${err.message}`)));
  });
}
