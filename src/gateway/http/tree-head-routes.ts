// GET /v1/tree-heads/{periodStart}: the gateway's signed tree head of a billing period, for checking v2 receipts and the chain of heads.
import { treeHeadHash, type SignedTreeHead } from '../../protocol/tree-head.js';
import { requireCustomer } from './guards.js';
import { errors, PublicError } from './public-error.js';
import type { Router } from './router.js';

/** What the route needs. */
export interface TreeHeadDeps {
  readonly gatewayUrl: string;
  /** The signed head of the period starting at this clock time, if it was closed with v2 receipts. */
  treeHead(periodStartMs: number): SignedTreeHead | undefined;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

/** A period start as a receipt's treeHead.periodStart shows it (ISO-8601 UTC) or as clock milliseconds. */
function parsePeriodStart(raw: string): number | null {
  let text: string;
  try {
    text = decodeURIComponent(raw);
  } catch {
    return null;
  }
  if (/^\d{1,16}$/.test(text)) return Number(text);
  if (ISO.test(text) && !Number.isNaN(Date.parse(text))) return Date.parse(text);
  return null;
}

/** Registers the tree-head route (linked customers, like their receipts). */
export function registerTreeHeadRoutes(router: Router, deps: TreeHeadDeps): void {
  router.get('/v1/tree-heads/:periodStart', (ctx) => {
    requireCustomer(ctx, deps.gatewayUrl);
    const startMs = parsePeriodStart(ctx.params.periodStart as string);
    if (startMs === null) {
      throw new PublicError('bad_request', 'periodStart must be an ISO-8601 UTC time or clock milliseconds', 'GET /v1/tree-heads/2026-01-01T00:00:00.000Z (a receipt\'s treeHead.periodStart)', { field: 'periodStart' });
    }
    const head = deps.treeHead(startMs);
    if (!head) throw errors.notFound(`a tree head for the period starting ${new Date(startMs).toISOString()}`);
    ctx.body = { treeHead: head, hash: treeHeadHash(head) };
  });
}
