// Prometheus metrics (prom-client), names prefixed hypha_; no per-customer labels.
import type { Router } from './http/router.js';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from './process-metrics.js';
import type { AdminSources } from './admin/admin-views.js';
import { requireAdmin } from './http/guards.js';
import { registerHaGauges, type HaMetricsView } from './ha/ha-metrics.js';
import { RequestMetrics } from './request-metrics.js';

/** An active gateway's HA state when no lease is given (unit tests of single parts): active, database up. */
const ALWAYS_ACTIVE: HaMetricsView = { active: () => true, outage: () => null };

/** Counters the gateway's parts bump; gauges read live state when scraped. */
export class GatewayMetrics {
  readonly registry = new Registry();
  /** hypha_http_requests_total and hypha_http_request_duration_seconds (request-metrics.ts: bumped on every request). */
  readonly requests: RequestMetrics;
  readonly linkAttempts: Counter<'outcome'>;
  readonly heartbeats: Counter;
  readonly probeDisagreements: Counter;
  readonly billingRuns: Counter<'outcome'>;
  readonly billingRunSeconds: Histogram;
  readonly ledgerErrors: Counter;

  /** `ha` reads the lease (the embedded store's is always active with its database up). */
  constructor(sources: AdminSources, ha: HaMetricsView = ALWAYS_ACTIVE) {
    const r = this.registry;
    collectProcessMetrics(r);
    registerHaGauges(r, ha);
    this.requests = new RequestMetrics(r);
    this.linkAttempts = new Counter({ name: 'hypha_link_attempts_total', help: 'Link challenges and attempts by outcome', labelNames: ['outcome'], registers: [r] });
    this.heartbeats = new Counter({ name: 'hypha_heartbeats_total', help: 'Agent heartbeats ingested', registers: [r] });
    this.probeDisagreements = new Counter({ name: 'hypha_probe_disagreements_total', help: "Gateway probes that disagreed with an agent's report", registers: [r] });
    this.billingRuns = new Counter({ name: 'hypha_billing_runs_total', help: 'Billing settle runs by outcome', labelNames: ['outcome'], registers: [r] });
    this.billingRunSeconds = new Histogram({ name: 'hypha_billing_run_duration_seconds', help: 'Duration of billing settle runs', buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 30], registers: [r] });
    this.ledgerErrors = new Counter({ name: 'hypha_ledger_errors_total', help: 'Billing runs that could not reach the ledger', registers: [r] });
    const gauge = (name: string, help: string, collect: (g: Gauge<string>) => void, labelNames: string[] = []): void => {
      new Gauge({ name, help, labelNames, registers: [r], collect(this: Gauge<string>) { collect(this); } });
    };
    gauge('hypha_agents_connected', 'Farmer agents connected now', (g) => g.set(sources.agents().length));
    gauge('hypha_node_up', 'Whether each approved node counts as up (1) or down (0)', (g) => {
      g.reset();
      for (const n of sources.nodes()) g.set({ node: n.id }, n.up ? 1 : 0);
    }, ['node']);
    gauge('hypha_vms', 'Running VMs (active or in grace) by whether they count as up now', (g) => {
      let up = 0;
      let down = 0;
      for (const d of sources.deployments()) {
        if (d.state !== 'active' && d.state !== 'grace') continue;
        if (sources.isVmUp(d.id)) up++;
        else down++;
      }
      g.set({ up: 'true' }, up);
      g.set({ up: 'false' }, down);
    }, ['up']);
    gauge('hypha_deployments', 'Deployments by state', (g) => {
      const counts: Record<string, number> = { provisioning: 0, active: 0, grace: 0, deprovisioned: 0 };
      for (const d of sources.deployments()) counts[d.state] = (counts[d.state] ?? 0) + 1;
      counts.provisioning = (counts.provisioning ?? 0) + sources.orders().filter((o) => o.state === 'provisioning' || o.state === 'paid').length;
      for (const [state, n] of Object.entries(counts)) g.set({ state }, n);
    }, ['state']);
    gauge('hypha_customers_low_funds', 'Customers whose funds are low or in arrears', (g) => g.set(sources.lowFunds().size));
    const totals = (pick: (p: { chargedMicros: bigint; paidOutMicros: bigint; arrearsMicros: bigint }) => bigint): number => Number(sources.periodTotals().reduce((s, [, p]) => s + pick(p), 0n));
    gauge('hypha_charged_micros', 'SPORE micro-units charged to customers and paid, all time', (g) => g.set(totals((p) => p.chargedMicros)));
    gauge('hypha_paid_out_micros', 'SPORE micro-units paid out to farmers, all time', (g) => g.set(totals((p) => p.paidOutMicros)));
    gauge('hypha_arrears_micros', 'SPORE micro-units charged but unpaid (arrears), now', (g) => g.set(totals((p) => p.arrearsMicros)));
    const checkpointFailures = sources.moneyCheckpointFailures?.bind(sources);
    if (checkpointFailures) gauge('hypha_money_checkpoint_failures', 'Money-log checkpoints that could not be encoded or written since start: the next start replays more of the log', (g) => g.set(checkpointFailures()));
    gauge('hypha_evidence_problems', 'Evidence problems seen, by kind', (g) => {
      for (const [kind, prefix] of [['chain_mismatch', 'agent.chain_mismatch'], ['chain_gap', 'agent.chain_gap'], ['chain_head_mismatch', 'agent.chain_head_mismatch'], ['probe_disagreement', 'agent.probe_disagreement'], ['countersign_refused', 'receipt.countersign_refused']]) {
        g.set({ kind: kind }, sources.countEvents(prefix as string));
      }
    }, ['kind']);
  }

  /** Records one HTTP request (route is the matched pattern, never the raw path). */
  observeRequest(route: string, method: string, status: number, durationMs: number): void {
    this.requests.observe(route, method, status, durationMs);
  }

  /** Records one billing settle run. */
  observeBillingRun(run: { durationMs: number; error: string | null }): void {
    this.billingRuns.inc({ outcome: run.error ? 'error' : 'ok' });
    this.billingRunSeconds.observe(run.durationMs / 1000);
    if (run.error) this.ledgerErrors.inc();
  }
}

/** GET /metrics, admins only (Prometheus text format 0.0.4). */
export function registerMetricsRoute(router: Router, deps: { gatewayUrl: string; metrics: GatewayMetrics }): void {
  router.get('/metrics', async (ctx) => {
    requireAdmin(ctx, deps.gatewayUrl);
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
}
