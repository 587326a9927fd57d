// Admin routes: agent approvals now; the status page, overview and troubleshooting views build on the same guard.
import type { Router } from './router.js';
import { randomBytes, toHex } from '../../identity/index.js';
import { formatAmount, parsePositiveAmount } from '../../protocol/money.js';
import { LedgerRejectedError, LedgerUnavailableError, type Ledger } from '../ledger/ledger.js';
import { ID_PATTERN } from '../../protocol/agent-messages.js';
import { expectAgentPubKey, expectArray, expectObject, expectOnlyKeys, expectString, expectSubnet64 } from '../../protocol/validate.js';
import type { Clock } from '../../protocol/clock.js';
import type { EventSink } from '../events/event-log.js';
import type { AgentView, NodeView } from '../agents/agent-hub.js';
import type { NodePeriodUptime } from '../uptime/node-uptime.js';
import type { TimelineEvent } from '../events/event-log.js';
import { customerDetail, deploymentDetail, eventView, overview, type AdminSources } from '../admin/admin-views.js';
import type { Table } from '../store/store.js';
import type { FundedOutcome, FundingSnapshot } from '../billing/billing-service.js';
import { adviceOf, fundsDueView, type FundsDue } from '../billing/grace-due.js';
import type { AgentApproval } from '../store/records.js';
import { PublicError, errors } from './public-error.js';
import { requireAdmin } from './guards.js';
import { pageRequest, paginate } from './page.js';

/** What the agent-approval routes need. */
export interface AdminAgentDeps {
  readonly gatewayUrl: string;
  readonly clock: Clock;
  readonly agents: Table<AgentApproval>;
  readonly events: EventSink;
  connected(): AgentView[];
  /** Closes the agent's connection (after a revoke). */
  disconnect(agent: string, reason: string): void;
  nodes(): NodeView[];
  nodeUptime(): Record<string, NodePeriodUptime[]>;
  eventsAbout(kind: 'agent', id: string): TimelineEvent[];
}

/** Evidence problems counted per agent from its timeline. */
export function disagreementsOf(events: readonly TimelineEvent[]): Record<string, number> {
  const count = (name: string): number => events.filter((e) => e.event === name).length;
  return {
    chainMismatch: count('agent.chain_mismatch'),
    chainGap: count('agent.chain_gap'),
    chainHeadMismatch: count('agent.chain_head_mismatch'),
    clockSkew: count('agent.clock_skew'),
    probe: count('agent.probe_disagreement'),
    countersignRefused: count('receipt.countersign_refused'),
  };
}

/** GET /admin/api/agents, POST /admin/api/agents/{agent}/approve and …/revoke. */
export function registerAdminAgentRoutes(router: Router, deps: AdminAgentDeps): void {
  router.get('/admin/api/agents', (ctx) => {
    requireAdmin(ctx, deps.gatewayUrl);
    const live = new Map(deps.connected().map((c) => [c.agent, c]));
    const now = deps.clock.nowMs();
    // Anyone with a key can ask to join and add a pending agent: the list is paged, in key order.
    const page = paginate(deps.agents.values().sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0)), (a) => a.agent, pageRequest(ctx, '/admin/api/agents'));
    ctx.body = {
      next: page.next,
      agents: page.items.map((a) => {
        const c = live.get(a.agent);
        return {
          ...a,
          disagreements: disagreementsOf(deps.eventsAbout('agent', a.agent)),
          connected: c !== undefined,
          ...(c ? { address: c.address, seq: c.seq, lastHeartbeatAgeSeconds: c.lastHeartbeatAtMs === undefined ? null : Math.max(0, Math.round((now - c.lastHeartbeatAtMs) / 1000)) } : {}),
        };
      }),
    };
  });

  router.get('/admin/api/nodes', (ctx) => {
    requireAdmin(ctx, deps.gatewayUrl);
    const now = deps.clock.nowMs();
    const history = deps.nodeUptime();
    const page = paginate(deps.nodes().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)), (n) => n.id, pageRequest(ctx, '/admin/api/nodes'));
    ctx.body = {
      next: page.next,
      nodes: page.items.map((n) => ({
        ...n,
        lastHeartbeatAgeSeconds: n.lastHeartbeatAtMs === undefined ? null : Math.max(0, Math.round((now - n.lastHeartbeatAtMs) / 1000)),
        periods: (history[n.id] ?? []).map((p) => ({ periodStart: new Date(p.periodStartMs).toISOString(), upSeconds: p.upSeconds, periodSeconds: p.periodSeconds })),
      })),
    };
  });

  router.post('/admin/api/agents/:agent/approve', async (ctx) => {
    const admin = requireAdmin(ctx, deps.gatewayUrl);
    const agent = ctx.params.agent as string;
    const existing = deps.agents.get(agent);
    if (!existing) throw errors.notFound(`agent ${agent} (it has not asked to join, and is not in the config)`);
    // The admin names what is approved: an empty request (an auto-submitted form, a stray click)
    // must not approve whatever nodes and /64s the farmer asked for itself.
    const approveHint = `POST ${deps.gatewayUrl}/admin/api/agents/${agent}/approve -d '{"nodes": ${JSON.stringify(existing.nodes)}, "subnets": ${JSON.stringify(existing.subnets)}}' (what it asked for; check before approving)`;
    if (ctx.state.body === undefined) throw new PublicError('bad_request', 'nodes is required: name the nodes and /64s to approve', approveHint, { field: 'nodes' });
    const body = expectObject(ctx.state.body, 'body');
    expectOnlyKeys(body, ['nodes', 'subnets'], '');
    if (body.nodes === undefined) throw new PublicError('bad_request', 'nodes is required', approveHint, { field: 'nodes' });
    if (body.subnets === undefined) throw new PublicError('bad_request', 'subnets is required', approveHint, { field: 'subnets' });
    const nodes = expectArray(body.nodes, 'nodes', 1, 64, (v, f) => expectString(v, f, { pattern: ID_PATTERN, patternName: 'a node id' }));
    const subnets = expectArray(body.subnets, 'subnets', 1, 64, expectSubnet64);
    for (const other of deps.agents.values()) {
      if (other.agent === agent || other.state !== 'approved') continue;
      const clash = nodes.find((n) => other.nodes.includes(n));
      if (clash) throw new PublicError('conflict', `node ${clash} is already approved for agent ${other.agent}`, 'revoke that agent first, or approve other nodes');
    }
    const record: AgentApproval = { ...existing, state: 'approved', source: existing.source === 'config' ? 'config' : 'admin', nodes, subnets, decidedAtMs: deps.clock.nowMs(), decidedBy: admin.agent ?? admin.subnet };
    await deps.agents.put(agent, record);
    await deps.events.record({ atMs: deps.clock.nowMs(), event: 'agent.approved', detail: `approved by ${record.decidedBy} for ${nodes.join(', ')} from ${subnets.join(', ')}`, agent });
    ctx.body = { agent: record };
  });

  router.post('/admin/api/agents/:agent/revoke', async (ctx) => {
    const admin = requireAdmin(ctx, deps.gatewayUrl);
    const agent = ctx.params.agent as string;
    const existing = deps.agents.get(agent);
    if (!existing) throw errors.notFound(`agent ${agent}`);
    const record: AgentApproval = { ...existing, state: 'revoked', decidedAtMs: deps.clock.nowMs(), decidedBy: admin.agent ?? admin.subnet };
    await deps.agents.put(agent, record);
    deps.disconnect(agent, 'revoked by an admin');
    await deps.events.record({ atMs: deps.clock.nowMs(), event: 'agent.revoked', detail: `revoked by ${record.decidedBy}`, agent });
    ctx.body = { agent: record };
  });
}

/** What the ledger admin route needs. */
export interface AdminLedgerDeps {
  readonly gatewayUrl: string;
  readonly ledger: Ledger;
  readonly clock: Clock;
  readonly events: EventSink;
  /**
   * Funds arrived: settle arrears and advance orders now rather than at the next tick; resolves
   * with what that did and the customer's shortfall afterwards (null when the ledger did not answer).
   */
  onFunded(customer: string, before: FundingSnapshot): Promise<FundedOutcome & { readonly due: FundsDue | null }>;
  /** The customer's arrears and VMs in grace, read before the funds go in (the settle loop may spend them first). */
  beforeFunding(customer: string): FundingSnapshot;
}

/** The fund answer's account of what the new funds did, in words a customer can act on. */
export function fundedSummary(outcome: FundedOutcome & { readonly due: FundsDue | null }, unit: string): string {
  const parts: string[] = [];
  if (outcome.arrearsPaidMicros > 0n) parts.push(`paid ${formatAmount(outcome.arrearsPaidMicros)} ${unit} of arrears`);
  if (outcome.resumed.length > 0) parts.push(`${outcome.resumed.length} VM(s) left grace and resumed (${outcome.resumed.join(', ')})`);
  if (outcome.ended.length > 0) parts.push(`${outcome.ended.length} VM(s) had already been deprovisioned when the funds were counted (${outcome.ended.join(', ')}): order a new one`);
  if (outcome.stillInGrace.length > 0) parts.push(`${outcome.stillInGrace.length} VM(s) are still in grace (${outcome.stillInGrace.join(', ')}): the arrears are not all paid`);
  if (parts.length === 0) parts.push('no arrears were due and no VM was in grace');
  const advice = outcome.due ? adviceOf(outcome.due, unit) : '';
  return `${parts.join('; ')}.${advice ? ` Still needed: ${advice}` : ''}`;
}

/** POST /admin/api/ledger/fund: the lab's stand-in for paying on Unyt (embedded ledgers only; 404 otherwise). */
export function registerAdminLedgerRoutes(router: Router, deps: AdminLedgerDeps): void {
  router.post('/admin/api/ledger/fund', async (ctx) => {
    const admin = requireAdmin(ctx, deps.gatewayUrl);
    const fund = deps.ledger.fund?.bind(deps.ledger);
    if (deps.ledger.kind !== 'embedded' || !fund) throw errors.notFound('funding (this gateway bills on Unyt; customers fund their agreement there)');
    const body = expectObject(ctx.state.body, 'body');
    expectOnlyKeys(body, ['agent', 'amount', 'key'], '');
    const agent = expectAgentPubKey(body.agent, 'agent');
    const amount = parsePositiveAmount('amount', body.amount);
    // Always in the fund: namespace, so an admin's key can never be a billing event's key
    // (hypha:<deployment>:<periodStart>) and make the ledger refuse that period's charge.
    const key = body.key === undefined ? `fund:${toHex(randomBytes(12))}` : fundKey(expectString(body.key, 'key', { maxLength: 194 }));
    const before = deps.beforeFunding(agent);
    let balance;
    try {
      balance = await fund(agent, amount, key);
    } catch (err) {
      if (err instanceof LedgerUnavailableError) throw new PublicError('unavailable', 'the ledger cannot be reached right now', 'try again in a minute');
      if (err instanceof LedgerRejectedError) throw new PublicError('conflict', err.message);
      throw err;
    }
    await deps.events.record({ atMs: deps.clock.nowMs(), event: 'ledger.funded', detail: `agreement funded with ${formatAmount(amount)} ${balance.unit} by ${admin.agent ?? admin.subnet}; it now holds ${formatAmount(balance.availableMicros)}`, customer: agent });
    const outcome = await deps.onFunded(agent, before);
    ctx.body = {
      agent,
      unit: balance.unit,
      funded: formatAmount(amount),
      paidArrears: formatAmount(outcome.arrearsPaidMicros),
      resumed: outcome.resumed,
      stillInGrace: outcome.stillInGrace,
      ended: outcome.ended,
      available: formatAmount(outcome.due?.availableMicros ?? balance.availableMicros),
      ...(outcome.due && outcome.due.dueMicros > 0n ? { toPay: fundsDueView(outcome.due, balance.unit) } : {}),
      summary: fundedSummary(outcome, balance.unit),
    };
  });
}

/** An admin's idempotency key for funding, in the `fund:` namespace no billing or payout key uses. */
export function fundKey(key: string): string {
  return key.startsWith('fund:') ? key : `fund:${key}`;
}

/** What the admin views need. */
export interface AdminViewDeps {
  readonly gatewayUrl: string;
  readonly sources: AdminSources;
  readonly ledger: Ledger;
}

/** GET /admin/api/overview, /admin/api/deployments/{id}, /admin/api/customers/{agent}, /admin/api/events. */
export function registerAdminViewRoutes(router: Router, deps: AdminViewDeps): void {
  router.get('/admin/api/overview', async (ctx) => {
    requireAdmin(ctx, deps.gatewayUrl);
    await deps.sources.refreshFunds?.();
    ctx.body = overview(deps.sources);
  });

  router.get('/admin/api/deployments/:id', async (ctx) => {
    requireAdmin(ctx, deps.gatewayUrl);
    const d = deps.sources.deployments().find((x) => x.id === ctx.params.id);
    if (!d) throw errors.notFound(`deployment ${ctx.params.id as string}`);
    ctx.body = await deploymentDetail(deps.sources, d);
  });

  router.get('/admin/api/customers/:agent', async (ctx) => {
    requireAdmin(ctx, deps.gatewayUrl);
    const agent = ctx.params.agent as string;
    const known = deps.sources.links().some((l) => l.agent === agent) || deps.sources.orders().some((o) => o.customer === agent);
    if (!known) throw errors.notFound(`customer ${agent}`);
    ctx.body = await customerDetail(deps.sources, agent, await balanceOf(deps.ledger, agent));
  });

  router.get('/admin/api/events', (ctx) => {
    requireAdmin(ctx, deps.gatewayUrl);
    const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
    ctx.body = { events: deps.sources.recentEvents(prefix, 200).map(eventView) };
  });
}

/** A customer's balance for an admin view, or why it is not known right now. */
export async function balanceOf(ledger: Ledger, agent: string): Promise<{ available: string } | { error: string }> {
  try {
    return { available: formatAmount((await ledger.balance(agent)).availableMicros) };
  } catch (err) {
    if (err instanceof LedgerUnavailableError) return { error: `the ledger cannot be reached: ${err.message}` };
    throw err;
  }
}
