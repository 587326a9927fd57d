// The admin status page's routes: /admin, its search, and the per-deployment, per-customer and per-node views, as server-rendered HTML.
import type { Router, RouterContext } from '../http/router.js';
import { parseIpv6, subnet64Of } from '../../identity/index.js';
import type { Ledger } from '../ledger/ledger.js';
import { PublicError, errors } from '../http/public-error.js';
import { requireAdmin } from '../http/guards.js';
import { balanceOf } from '../http/admin-routes.js';
import { customerDetail, deploymentDetail, eventView, overview, type AdminSources } from './admin-views.js';
import type { SafeHtml } from '../render/html.js';
import { adminPath } from './admin-path.js';
import {
  CONTENT_SECURITY_POLICY,
  FRAGMENT_HEADER,
  renderCustomer,
  renderDeployment,
  renderDocument,
  renderMessage,
  renderNode,
  renderOverview,
  type DeploymentListRow,
  type EventRow,
} from './status-page-render.js';

/** What the status page routes need (the same as the admin JSON views). */
export interface AdminPageDeps {
  readonly gatewayUrl: string;
  readonly sources: AdminSources;
  readonly ledger: Ledger;
}

/** How many deployments the overview's directory lists (newest first); older ones are found with the search box. */
const DIRECTORY_SIZE = 50;
/** How many recent events the overview lists. */
const RECENT_EVENTS = 20;
/** Routine events left out of the overview's recent events (one per period; the revenue table has them). */
const ROUTINE_EVENTS = new Set(['billing.period_closed']);

/** The headers of every page response: the CSP, no sniffing, no referrer, never cached. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  vary: FRAGMENT_HEADER,
};

/** A page to render, or where to send the browser instead. */
type PageResult = { readonly title: string; readonly main: SafeHtml; readonly refresh: boolean; readonly status?: number; readonly query?: string } | { readonly redirect: string };

/**
 * GET /admin, /admin/search?q=, /admin/deployments/{id}, /admin/customers/{agent} and
 * /admin/nodes/{id}: HTML for admins only (401 not_linked for unlinked callers, 403 forbidden
 * for linked non-admins), rendered from the same views as /admin/api. With the header
 * `x-hypha-fragment: 1` a page answers with just its `<main>` content, for the refresh script.
 */
export function registerAdminPageRoutes(router: Router, deps: AdminPageDeps): void {
  const s = deps.sources;

  router.get(
    '/admin',
    page(deps, async () => {
      await s.refreshFunds?.();
      return { title: 'Status', refresh: true, main: renderOverview(overview(s), { deployments: directory(s), recentEvents: recentEvents(s), requests: s.requests?.() ?? [] }) };
    }),
  );

  router.get(
    '/admin/search',
    page(deps, (ctx) => {
      const q = typeof ctx.query.q === 'string' ? ctx.query.q.trim() : '';
      if (q === '') return { redirect: '/admin' };
      const target = searchTarget(s, q);
      if (target !== null) return { redirect: target };
      return {
        status: 404,
        title: 'Nothing found',
        refresh: false,
        query: q,
        main: renderMessage('Nothing found', `Nothing matches “${q}”.`, 'Search takes a customer AgentPubKey (uhCAk…), a deployment id, an order id, a node id, or a customer’s Mycelium address or /64, exactly as the gateway shows them.'),
      };
    }),
  );

  router.get(
    '/admin/deployments/:id',
    page(deps, async (ctx) => {
      const id = ctx.params.id ?? '';
      const d = s.deployments().find((x) => x.id === id);
      if (!d) throw errors.notFound(`deployment ${id}`);
      return { title: `Deployment ${id}`, refresh: true, main: renderDeployment(await deploymentDetail(s, d)) };
    }),
  );

  router.get(
    '/admin/customers/:agent',
    page(deps, async (ctx) => {
      const agent = ctx.params.agent ?? '';
      if (!isCustomer(s, agent)) throw errors.notFound(`customer ${agent}`);
      const view = await customerDetail(s, agent, await balanceOf(deps.ledger, agent));
      return { title: `Customer ${agent}`, refresh: true, main: renderCustomer(view) };
    }),
  );

  router.get(
    '/admin/nodes/:id',
    page(deps, (ctx) => {
      const id = ctx.params.id ?? '';
      const o = overview(s);
      const placed = directory(s, Infinity).filter((d) => d.node === id);
      const node = o.nodes.list.find((n) => n.id === id) ?? (placed.length > 0 ? { id, farmer: s.deployments().find((d) => d.node === id)?.farmer ?? '', up: false, connected: false } : undefined);
      if (!node) throw errors.notFound(`node ${id}`);
      const agent = o.agents.list.find((a) => a.nodes.includes(id)) ?? null;
      const events = [...s.eventsAbout('node', id), ...(node.farmer ? s.eventsAbout('agent', node.farmer) : [])];
      const timeline = [...new Set(events)].sort((a, b) => a.atMs - b.atMs).map(eventView);
      return { title: `Node ${id}`, refresh: true, main: renderNode({ node, agent, deployments: placed, timeline }) };
    }),
  );
}

/**
 * Where the search box sends an admin for `q`: a deployment id, an order id (its deployment,
 * else its customer), a customer AgentPubKey, a node id, or a Mycelium address or /64 that a
 * customer linked. Null when nothing matches.
 */
export function searchTarget(s: AdminSources, q: string): string | null {
  const deployments = s.deployments();
  if (deployments.some((d) => d.id === q)) return adminPath('deployments', q);
  const order = s.orders().find((o) => o.id === q);
  if (order) return order.deployment !== undefined && deployments.some((d) => d.id === order.deployment) ? adminPath('deployments', order.deployment) : adminPath('customers', order.customer);
  if (isCustomer(s, q)) return adminPath('customers', q);
  if (s.nodes().some((n) => n.id === q) || deployments.some((d) => d.node === q)) return adminPath('nodes', q);
  const subnet = subnetOf(q);
  const link = subnet === null ? undefined : s.links().find((l) => l.subnet === subnet);
  if (link) return adminPath('customers', link.agent);
  return null;
}

function isCustomer(s: AdminSources, agent: string): boolean {
  return s.links().some((l) => l.agent === agent) || s.orders().some((o) => o.customer === agent);
}

function subnetOf(text: string): string | null {
  try {
    return subnet64Of(parseIpv6(text.replace(/\/64$/, '')));
  } catch {
    return null;
  }
}

function recentEvents(s: AdminSources): EventRow[] {
  return s
    .recentEvents('', RECENT_EVENTS * 10)
    .filter((e) => !ROUTINE_EVENTS.has(e.event))
    .slice(0, RECENT_EVENTS)
    .map(eventView);
}

function directory(s: AdminSources, limit = DIRECTORY_SIZE): DeploymentListRow[] {
  return [...s.deployments()]
    .sort((a, b) => b.createdAtMs - a.createdAtMs)
    .slice(0, limit)
    .map((d) => ({ id: d.id, state: d.state, customer: d.customer, node: d.node, createdAt: new Date(d.createdAtMs).toISOString() }));
}

/**
 * Wraps a page: the security headers, the admin guard, and an HTML answer for a PublicError
 * (401, 403, 404) with the same status the JSON routes give. Anything else goes on to the
 * error middleware, which logs it and answers a generic 500.
 */
function page(deps: AdminPageDeps, build: (ctx: RouterContext) => PageResult | Promise<PageResult>) {
  return async (ctx: RouterContext): Promise<void> => {
    ctx.set(PAGE_HEADERS);
    let result: PageResult;
    try {
      requireAdmin(ctx, deps.gatewayUrl);
      result = await build(ctx);
    } catch (err) {
      if (!(err instanceof PublicError)) throw err;
      result = { status: err.status, title: titleOf(err), refresh: false, main: renderMessage(titleOf(err), err.message, err.hint) };
    }
    if ('redirect' in result) {
      ctx.redirect(result.redirect);
      return;
    }
    ctx.status = result.status ?? 200;
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = ctx.get(FRAGMENT_HEADER) === '1' ? result.main.text : renderDocument(result.main, result);
  };
}

function titleOf(err: PublicError): string {
  switch (err.code) {
    case 'not_linked':
      return 'Not linked';
    case 'forbidden':
      return 'Admins only';
    case 'not_found':
      return 'Not found';
    default:
      return 'Error';
  }
}
