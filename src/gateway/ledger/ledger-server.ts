// `hypha ledger serve`: the embedded ledger over HTTP on a Mycelium address, answering only the /64s it is told to trust.
import { createServer, type Server } from 'node:http';
import Koa from 'koa';
import { Router } from '../http/router.js';
import type { Logger } from 'pino';
import { formatIpv6, isMyceliumBytes, normaliseSubnet64, parseIpv6, subnet64Of } from '../../identity/index.js';
import { formatAmount, parseAmount } from '../../protocol/money.js';
import { ValidationError, expectArray, expectObject, expectString } from '../../protocol/validate.js';
import { errorMiddleware } from '../http/error-middleware.js';
import { jsonBody } from '../http/json-body.js';
import { PublicError } from '../http/public-error.js';
import { OriginPolicy, originGuard } from '../http/origin-guard.js';
import { EmbeddedLedger } from './embedded-ledger.js';
import { BILLING_EVENTS_PER_CALL, LedgerRejectedError, LedgerUnavailableError, type BillingEvent } from './ledger.js';

/** Options of the ledger server. */
export interface LedgerServerOptions {
  readonly dir: string;
  readonly address: string;
  readonly port: number;
  /** /64s allowed to call (the gateway's); every other caller gets 403. */
  readonly allow: readonly string[];
}

/**
 * The server's limits: its only client is one gateway, which keeps a few connections; Node's
 * defaults (no connection cap, 5 minutes per request) would let a slow or stuck peer pile up.
 */
export const LEDGER_SERVER_LIMITS = { headersTimeoutMs: 10_000, requestTimeoutMs: 20_000, keepAliveTimeoutMs: 5_000, maxConnections: 256 } as const;

/**
 * The lab's stand-in for Unyt as a separate process, so a test can take "the ledger" away and
 * see that the gateway treats it as an outage, not as customers running out of funds.
 */
export async function startLedgerServer(options: LedgerServerOptions, log: Logger): Promise<{ server: Server; ledger: EmbeddedLedger; close(): Promise<void> }> {
  const ledger = EmbeddedLedger.open(options.dir);
  const allow = new Set(options.allow.map((s) => normaliseSubnet64(s)));
  const app = new Koa({ proxy: false });
  app.silent = true;
  const router = new Router();
  router.get('/v1/balance/:customer', async (ctx) => {
    const b = await ledger.balance(ctx.params.customer as string);
    ctx.body = { unit: b.unit, available: formatAmount(b.availableMicros) };
  });
  router.post('/v1/fund', async (ctx) => {
    const o = expectObject(ctx.state.body, 'body');
    const b = await ledger.fund(expectString(o.customer, 'customer', { maxLength: 64 }), parseAmount('amount', o.amount), expectString(o.key, 'key', { maxLength: 200 }));
    ctx.body = { unit: b.unit, available: formatAmount(b.availableMicros) };
  });
  router.post('/v1/events', async (ctx) => {
    const result = await ledger.postBillingEvent(eventOf(ctx.state.body, 'body'));
    ctx.body = result.status === 'paid' ? result : { status: result.status, available: formatAmount(result.availableMicros) };
  });
  router.post('/v1/events/batch', async (ctx) => {
    const o = expectObject(ctx.state.body, 'body');
    const events = expectArray(o.events, 'events', 1, BILLING_EVENTS_PER_CALL, (v, f) => eventOf(v, f));
    const result = await ledger.postBillingEvents(expectString(o.customer, 'customer', { maxLength: 64 }), events);
    ctx.body = result.status === 'paid' ? result : { status: result.status, available: formatAmount(result.availableMicros) };
  });
  router.post('/v1/payouts', async (ctx) => {
    const o = expectObject(ctx.state.body, 'body');
    ctx.body = await ledger.payFarmer({
      key: expectString(o.key, 'key', { maxLength: 200 }),
      farmer: expectString(o.farmer, 'farmer', { maxLength: 64 }),
      amountMicros: parseAmount('amount', o.amount),
      unit: expectString(o.unit, 'unit', { maxLength: 16 }),
      receiptIds: expectArray(o.receiptIds, 'receiptIds', 0, 10_000, (v, f) => expectString(v, f, { maxLength: 64 })),
    });
  });
  router.get('/v1/summary', (ctx) => {
    const s = ledger.summary();
    ctx.body = { unit: s.unit, entries: s.entries, charges: s.charges, refusals: s.refusals, payouts: s.payouts, collected: formatAmount(s.collectedMicros), paidOut: formatAmount(s.paidOutMicros) };
  });
  app.use(errorMiddleware(log));
  app.use(originGuard(new OriginPolicy([`[${options.address}]:${options.port}`])));
  app.use(async (ctx, next) => {
    let remote: Uint8Array;
    try {
      remote = parseIpv6(ctx.req.socket.remoteAddress ?? '');
    } catch {
      throw new PublicError('forbidden', 'not a Mycelium caller');
    }
    if (!isMyceliumBytes(remote) || !allow.has(subnet64Of(remote))) throw new PublicError('forbidden', `${formatIpv6(remote)} may not use this ledger`);
    try {
      await next();
    } catch (err) {
      if (err instanceof LedgerRejectedError) throw new PublicError('conflict', err.message);
      if (err instanceof LedgerUnavailableError) throw new PublicError('unavailable', err.message);
      if (err instanceof ValidationError) throw err;
      throw err;
    }
  });
  app.use(jsonBody);
  app.use(router.routes());
  const server = createServer(app.callback());
  server.headersTimeout = LEDGER_SERVER_LIMITS.headersTimeoutMs;
  server.requestTimeout = LEDGER_SERVER_LIMITS.requestTimeoutMs;
  server.keepAliveTimeout = LEDGER_SERVER_LIMITS.keepAliveTimeoutMs;
  server.maxConnections = LEDGER_SERVER_LIMITS.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.address, port: options.port, ipv6Only: true }, () => resolve());
  });
  log.info({ address: options.address, port: options.port, allow: options.allow, dir: options.dir }, 'ledger listening on [%s]:%d', options.address, options.port);
  return {
    server,
    ledger,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await ledger.close();
    },
  };
}

/** A billing event from a request body; `field` names it in a 400 (`events[3].amount`). */
function eventOf(value: unknown, field: string): BillingEvent {
  const o = expectObject(value, field);
  const at = field === 'body' ? '' : `${field}.`;
  return {
    key: expectString(o.key, `${at}key`, { maxLength: 200 }),
    customer: expectString(o.customer, `${at}customer`, { maxLength: 64 }),
    farmer: expectString(o.farmer, `${at}farmer`, { maxLength: 64 }),
    amountMicros: parseAmount(`${at}amount`, o.amount),
    unit: expectString(o.unit, `${at}unit`, { maxLength: 16 }),
    receiptIds: expectArray(o.receiptIds, `${at}receiptIds`, 0, 10_000, (v, f) => expectString(v, f, { maxLength: 64 })),
    invoice: expectObject(o.invoice ?? {}, `${at}invoice`),
  };
}
