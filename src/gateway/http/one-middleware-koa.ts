// The gateway's Koa application class: its one middleware is called directly, and a string or Buffer answer is written by it; every other answer goes through Koa's own respond.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import Koa from 'koa';

/** Koa's request step (application.js `handleRequest`): not in its types, but a method of every app. */
type KoaHandleRequest = (this: Koa, ctx: Koa.ParameterizedContext, fnMiddleware: (ctx: Koa.ParameterizedContext) => Promise<unknown>) => Promise<unknown>;
const koaHandleRequest = (Koa.prototype as unknown as { handleRequest: KoaHandleRequest }).handleRequest;

/** The `next` of the only middleware: there is nothing after it. */
const noNext = (): Promise<void> => Promise.resolve();

/** What the request listener returns when the answer was written at once (Koa's type wants a promise; one shared, none made per request). */
const ANSWERED: Promise<void> = Promise.resolve();

/**
 * A Koa app with exactly one middleware, whose request listener does Koa's per-request work
 * itself for the common answer and hands the rest to Koa:
 * - the middleware is called as it is, with no koa-compose dispatch closure or bound `next`, and
 *   when it returns no promise (it answered without waiting) the answer is written in the same
 *   call: no promise chain, no microtask per request;
 * - a string or Buffer body on a status that has a body, for a method other than HEAD, on a
 *   writable response, is sent with `res.end(body)`: what Koa's respond does for exactly that case
 *   (its Content-Type and Content-Length were set by the body setter). Anything else — HEAD,
 *   204/205/304, no body, an object, a stream, `ctx.respond = false`, a response already ended —
 *   goes through Koa's own handleRequest and respond (respondThroughKoa);
 * - Koa's `onFinished(res, ctx.onerror)` per request (bench/auth: ~2 µs of listeners added and
 *   removed on the response and the socket) is not registered on the direct path. What it does:
 *   when the response or its socket fails, it calls ctx.onerror, which emits 'error' on the app
 *   and, if nothing was sent yet, tries to write a text 500 on the broken socket. The gateway's app
 *   is silent with no 'error' listener but Koa's default (which returns for a silent app), and the
 *   direct path carries no stream body to clean up, so nothing is lost; Koa's path still registers it.
 * Errors thrown by the middleware or while writing go to ctx.onerror, as in Koa.
 * bench/auth-path measures the gain against a bare Koa hello-world.
 */
export class OneMiddlewareKoa extends Koa {
  override callback(): (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => Promise<void> {
    const [only] = this.middleware;
    if (this.middleware.length !== 1 || only === undefined) throw new Error(`createApp's app runs its one middleware and no other (got ${this.middleware.length})`);
    // What Koa's callback does: the default handler, when nobody listens for errors.
    if (!this.listenerCount('error')) this.on('error', this.onerror.bind(this));
    return (req, res) => {
      // Koa's own callback hands createContext either kind; its types list only HTTP/1's.
      const ctx = this.createContext(req as IncomingMessage, res as ServerResponse);
      res.statusCode = 404;
      let done: unknown;
      try {
        done = only(ctx, noNext);
      } catch (err) {
        ctx.onerror(err as Error);
        return ANSWERED;
      }
      if (done instanceof Promise) return done.then(() => this.answer(ctx)).catch((err: unknown) => ctx.onerror(err as Error));
      try {
        this.answer(ctx);
      } catch (err) {
        ctx.onerror(err as Error);
      }
      return ANSWERED;
    };
  }

  /** Writes the answer the middleware left in `ctx`. */
  private answer(ctx: Koa.ParameterizedContext): void {
    const res = ctx.res;
    const body: unknown = ctx.response.body;
    const code = res.statusCode;
    if (
      (typeof body === 'string' || Buffer.isBuffer(body)) &&
      ctx.respond !== false &&
      code !== 204 &&
      code !== 205 &&
      code !== 304 &&
      ctx.req.method !== 'HEAD' &&
      // Koa's `ctx.writable`: not ended, and its socket (if any) still writable.
      !res.writableEnded &&
      (res.socket === null || res.socket.writable)
    ) {
      res.end(body);
      return;
    }
    this.respondThroughKoa(ctx);
  }

  /**
   * Koa's handleRequest with nothing left to run: it sets the status to 404 before its middleware,
   * so the one it runs puts back the status the app's middleware left; then Koa's respond writes
   * the answer, and its errors go to ctx.onerror, exactly as for any Koa app.
   */
  private respondThroughKoa(ctx: Koa.ParameterizedContext): void {
    const res = ctx.res;
    const status = res.statusCode;
    void koaHandleRequest.call(this, ctx, () => {
      res.statusCode = status;
      return ANSWERED;
    });
  }
}
