// The customer page's routes: GET / for a browser, and the page's own form posts and views under /page/ (HTML answers, form bodies).
import type { Context } from 'koa';
import type { Router, RouterContext, Handler } from '../http/router.js';
import type { Offer } from '../../protocol/offer.js';
import { formatAmount } from '../../protocol/money.js';
import { HOUR_MS } from '../../protocol/clock.js';
import { parseSshPublicKeys } from '../../protocol/ssh-key.js';
import { offerView } from '../offers.js';
import { depositOf, type OrderService } from '../orders/order-service.js';
import type { DeploymentService } from '../deployments/deployment-service.js';
import type { CustomerViews } from '../http/customer-views.js';
import { principalOf } from '../http/principal.js';
import { requireCustomer } from '../http/guards.js';
import { PublicError, fromValidation } from '../http/public-error.js';
import { ValidationError } from '../../protocol/validate.js';
import { ProvisionError } from '../provision/provisioner.js';
import type { SafeHtml } from '../render/html.js';
import { FRAGMENT_HEADER } from '../render/refresh-script.js';
import type { TimelineEvent } from '../events/event-log.js';
import { deploymentHistory } from './deployment-history.js';
import { customerLiveView } from './customer-live-view.js';
import type { RequestRow } from '../market/requests-table.js';
import {
  CUSTOMER_PAGE_CSP,
  renderCancelConfirm,
  renderHome,
  renderKeysConfirm,
  renderKeysForm,
  renderLive,
  renderMessage,
  renderPage,
  renderReceipts,
  type CustomerPageView,
  type OfferRow,
} from './customer-page-render.js';

/** What the page needs. */
export interface CustomerPageDeps {
  readonly gateway: { readonly url: string; readonly agent: string };
  readonly views: CustomerViews;
  readonly orders: OrderService;
  readonly deployments: DeploymentService;
  offers(): readonly Offer[];
  availableSlots(): Promise<ReadonlyMap<string, number>>;
  /** The billing deposit an order takes. */
  readonly depositMs: number;
  /** A deployment's or an order's timeline (the event log's index), for the deployment's history. */
  eventsAbout(kind: 'deployment' | 'order', id: string): readonly TimelineEvent[];
  /** The customer's capacity requests with their bids, newest first. */
  requestsOf?(customer: string): readonly RequestRow[];
}

/** The headers of every page answer: the CSP, no sniffing, no referrer, never cached, never framed. */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CUSTOMER_PAGE_CSP,
  'x-content-type-options': 'nosniff',
  // Not no-referrer: with it Chromium sends `Origin: null` on the page's own form posts, which the
  // origin guard rightly refuses. same-origin still sends nothing to any other site.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  vary: `accept, ${FRAGMENT_HEADER}`,
};

/** What the page says after a form was done: a fixed catalogue, so a link cannot put words in the page's mouth. */
const NOTICES: Readonly<Record<string, string>> = {
  ordered: 'Order placed. Pay its deposit into your Unyt agreement; it becomes active within a minute of the payment.',
  cancelled: 'Cancelled: the VM is being destroyed. Its receipts stay available below.',
  keys: 'SSH keys replaced: only the new keys open the VM now.',
};

/** How many earlier SSH keys the buy form offers. */
const EARLIER_KEYS = 10;

/** GET / for a browser: the home page (or, with the live header, just its live part). */
export function customerHomeHandler(deps: CustomerPageDeps): Handler {
  return page(async (ctx) => {
    const p = principalOf(ctx);
    const caller = { address: p.address, subnet: p.subnet, ...(p.agent !== undefined ? { agent: p.agent } : {}) };
    const notice = typeof ctx.query.done === 'string' ? NOTICES[ctx.query.done] : undefined;
    if (p.agent === undefined) return { title: 'Link this address', live: false, main: renderHome({ gateway: deps.gateway, caller, ...(notice ? { notice } : {}) }) };
    const live = await customerLiveView(deps, p.agent);
    if (ctx.get(FRAGMENT_HEADER) === '1') return { title: '', live: true, main: renderLive(live, deps.gateway.url), fragment: true };
    const view: CustomerPageView = {
      gateway: deps.gateway,
      caller,
      linked: { ...live, offers: await offerRows(deps), earlierKeys: earlierKeys(deps, p.agent), requests: deps.requestsOf?.(p.agent) ?? [] },
      ...(notice ? { notice } : {}),
    };
    return { title: 'Your VMs', live: true, main: renderHome(view) };
  });
}

/** The page's own routes under /page/. */
export function registerCustomerPageRoutes(router: Router, deps: CustomerPageDeps): void {
  router.post(
    '/page/orders',
    page(async (ctx) => {
      const me = requireCustomer(ctx, deps.gateway.url);
      const form = formOf(ctx);
      const earlier = form.earlierKey ?? '';
      const pasted = (form.sshKey ?? '').trim();
      if (earlier === '' && pasted === '') throw new PublicError('bad_request', 'an SSH public key is needed to reach the VM', 'paste your public key (e.g. the line in ~/.ssh/id_ed25519.pub) or pick one from an earlier order', { field: 'sshKey' });
      const keys = earlier !== '' ? [earlier] : pasted.split(/\r?\n/).map((k) => k.trim()).filter((k) => k !== '');
      const name = (form.name ?? '').trim();
      await deps.orders.create(me.agent, { offer: form.offer ?? '', sshKeys: keys, ...(name !== '' ? { name } : {}) }, me.subnet);
      return { redirect: '/?done=ordered#orders' };
    }),
  );

  router.get(
    '/page/deployments/:id/cancel',
    page((ctx) => {
      const me = requireCustomer(ctx, deps.gateway.url);
      const d = deps.deployments.get(me.agent, ctx.params.id ?? '');
      return { title: `Cancel ${d.name}`, live: false, main: renderCancelConfirm(deps.views.deployment(d)) };
    }),
  );

  router.post(
    '/page/deployments/:id/cancel',
    page(async (ctx) => {
      const me = requireCustomer(ctx, deps.gateway.url);
      const d = deps.deployments.get(me.agent, ctx.params.id ?? '');
      // Without the confirmation field the post is a first step: show what will happen.
      if (formOf(ctx).confirm !== 'yes') return { title: `Cancel ${d.name}`, live: false, main: renderCancelConfirm(deps.views.deployment(d)) };
      await deps.deployments.cancel(me.agent, d.id);
      return { redirect: '/?done=cancelled#deployments' };
    }),
  );

  router.get(
    '/page/deployments/:id/keys',
    page((ctx) => {
      const me = requireCustomer(ctx, deps.gateway.url);
      const d = deps.deployments.get(me.agent, ctx.params.id ?? '');
      return { title: `SSH keys of ${d.name}`, live: false, main: renderKeysForm(deps.views.deployment(d)) };
    }),
  );

  router.post(
    '/page/deployments/:id/keys',
    page(async (ctx) => {
      const me = requireCustomer(ctx, deps.gateway.url);
      const d = deps.deployments.get(me.agent, ctx.params.id ?? '');
      const form = formOf(ctx);
      const lines = (form.sshKeys ?? '').split(/\r?\n/).map((k) => k.trim()).filter((k) => k !== '');
      // Checked before the confirmation step, so the customer confirms keys the gateway accepts.
      const keys = parseSshPublicKeys(lines, 'sshKeys').map((k) => k.line);
      if (form.confirm !== 'yes') return { title: `SSH keys of ${d.name}`, live: false, main: renderKeysConfirm(deps.views.deployment(d), keys) };
      await deps.deployments.setSshKeys(me.agent, d.id, { sshKeys: keys });
      return { redirect: '/?done=keys#deployments' };
    }),
  );

  router.get(
    '/page/deployments/:id/receipts',
    page(async (ctx) => {
      const me = requireCustomer(ctx, deps.gateway.url);
      const d = deps.deployments.get(me.agent, ctx.params.id ?? '');
      const history = deploymentHistory(deps.eventsAbout('deployment', d.id), deps.eventsAbout('order', d.order));
      return { title: `Receipts of ${d.name}`, live: false, main: renderReceipts(deps.views.deployment(d), await deps.views.receipts(me.agent, d.id), deps.gateway, history) };
    }),
  );

  router.get('/page/deployments/:id/receipts.json', async (ctx) => {
    const me = requireCustomer(ctx, deps.gateway.url);
    const d = deps.deployments.get(me.agent, ctx.params.id ?? '');
    ctx.set('content-disposition', `attachment; filename="receipts-${d.id.replace(/[^A-Za-z0-9_-]/g, '')}.json"`);
    ctx.set('cache-control', 'no-store');
    ctx.body = { receipts: await deps.views.receipts(me.agent, d.id) };
  });
}

/** A page to render, or where to send the browser (303, so a reload does not post again). */
type PageResult = { readonly title: string; readonly main: SafeHtml; readonly live: boolean; readonly fragment?: boolean } | { readonly redirect: string };

/**
 * Wraps a page handler: the security headers, and every PublicError as the page's own message
 * (with the API's status and hint). Anything else goes on to the error middleware (a generic 500).
 */
function page(build: (ctx: RouterContext) => PageResult | Promise<PageResult>): Handler {
  return async (ctx: RouterContext): Promise<void> => {
    ctx.set(PAGE_HEADERS);
    let result: PageResult;
    let status = 200;
    try {
      result = await build(ctx);
    } catch (thrown) {
      const err = thrown instanceof ValidationError ? fromValidation(thrown) : thrown;
      if (!(err instanceof PublicError)) throw err;
      status = err.status;
      const field = typeof err.extra.field === 'string' ? ` (field: ${err.extra.field})` : '';
      result = { title: titleOf(err), live: false, main: renderMessage(titleOf(err), `${err.message}${field}`, err.hint) };
    }
    if ('redirect' in result) {
      ctx.status = 303;
      ctx.redirect(result.redirect);
      return;
    }
    ctx.status = status;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = result.fragment ? result.main.text : renderPage(result.title, result.main, result.live);
  };
}

function titleOf(err: PublicError): string {
  switch (err.code) {
    case 'not_linked':
      return 'Link this address first';
    case 'not_found':
      return 'Not found';
    case 'bad_request':
      return 'Please check the form';
    case 'conflict':
      return 'Not possible now';
    case 'insufficient_funds':
      return 'Payment needed';
    case 'rate_limited':
      return 'Too many at once';
    case 'unavailable':
      return 'Try again in a minute';
    default:
      return 'Something went wrong';
  }
}

/** The form fields of a page post (form-body.ts reads them); anything else is a 400. */
function formOf(ctx: Context): Record<string, string> {
  const body = ctx.state.body as unknown;
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new PublicError('bad_request', 'the page expects a form', 'use the page\'s own forms', { field: 'body' });
  const form: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === 'string') form[k] = v;
  return form;
}

async function offerRows(deps: CustomerPageDeps): Promise<OfferRow[] | null> {
  let slots: ReadonlyMap<string, number>;
  try {
    slots = await deps.availableSlots();
  } catch (err) {
    if (err instanceof ProvisionError) return null;
    throw err;
  }
  const hours = Math.round((deps.depositMs / HOUR_MS) * 100) / 100;
  return deps.offers().map((o) => ({ ...offerView(o, slots.get(o.id) ?? 0), deposit: formatAmount(depositOf(o, deps.depositMs)), depositHours: hours }));
}

function earlierKeys(deps: CustomerPageDeps, agent: string): string[] {
  const keys: string[] = [];
  for (const o of [...deps.orders.list(agent)].reverse()) {
    for (const k of o.sshKeys) if (!keys.includes(k)) keys.push(k);
    if (keys.length >= EARLIER_KEYS) break;
  }
  return keys.slice(0, EARLIER_KEYS);
}
