// The gateway's own probes of every running VM: evidence for VMs no agent reports, and a cross-check of the agents that do.
import type { Logger } from 'pino';
import type { Clock } from '../../protocol/clock.js';
import type { EventSink } from '../events/event-log.js';
import type { DeploymentRecord } from '../store/records.js';
import type { UptimeBook } from './uptime-book.js';

/** A TCP probe: reachable or not (the agent's probe function has the same shape). */
export type Probe = (address: string, port: number, timeoutMs: number) => Promise<{ reachable: boolean }>;

/** What the prober needs. */
export interface ProbeDeps {
  readonly clock: Clock;
  readonly uptime: UptimeBook;
  readonly events: EventSink;
  readonly log: Logger;
  readonly intervalMs: number;
  readonly port: number;
  readonly probe: Probe;
  deployments(): readonly DeploymentRecord[];
  /** Whether an agent reports on this deployment's node (its samples are the evidence then). */
  hasAgent(d: DeploymentRecord): boolean;
  /** A probe disagreed with the agent's latest report (for metrics). */
  onDisagreement?(farmer: string): void;
  /** How long dispute spans are kept (clock ms); they must outlive the period closes that read them. Default 2 days. */
  readonly keepDisputesMs?: number;
}

/** Where billing asks whether a VM's up-time was disputed (a narrow port; ProbeService implements it). */
export interface DisputeSource {
  /** Whether the gateway's probes disagreed with the agent about `deploymentId` within [fromMs, toMs). */
  disputed(deploymentId: string, fromMs: number, toMs: number): boolean;
}

/**
 * Every heartbeat interval, a TCP connect to each running VM from the gateway itself. For a
 * VM on a node without an agent (grid VMs), the probe IS the evidence: its samples go into the
 * up-time book. For a VM an agent reports on, a probe that disagrees with the agent's latest,
 * still-fresh report is a suspicion; it counts against that farmer, and is shown to admins (one
 * event per streak), only once the agent has reported again since and still disagrees. A pause,
 * a resume or a crash between the agent's report and the probe is honest, and the agent's next
 * report agrees with the probe. For VMs an agent reports on, the probes are also kept as the
 * gateway's own evidence ("probe:ID"), and each confirmed disagreement marks the VM's up-time as
 * disputed at that time, so billing can charge the smaller of the two (disputed-uptime.ts).
 */
export class ProbeService implements DisputeSource {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  private readonly streaks = new Set<string>();
  /** Deployment id -> the time of the agent report a probe first disagreed with. */
  private readonly suspicions = new Map<string, number>();
  /** Deployment id -> [first, last] probe times of each streak of confirmed disagreements, oldest first. */
  private readonly disputes = new Map<string, Array<[number, number]>>();

  constructor(private readonly deps: ProbeDeps) {}

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.running = this.round().catch((err: unknown) => this.deps.log.error({ err }, 'probe round failed'));
      void this.running.finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.deps.clock.toRealMs(this.deps.intervalMs));
      });
    };
    this.timer = setTimeout(tick, this.deps.clock.toRealMs(this.deps.intervalMs));
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One round of probes over every running VM (at most 64 at a time). */
  async round(): Promise<void> {
    const running = this.deps.deployments().filter((d) => d.state === 'active' || (d.state === 'grace' && !d.paused));
    const ids = new Set(running.map((d) => d.id));
    for (const id of this.suspicions.keys()) if (!ids.has(id)) this.suspicions.delete(id);
    for (const id of this.streaks) if (!ids.has(id)) this.streaks.delete(id);
    this.pruneDisputes(this.deps.clock.nowMs() - (this.deps.keepDisputesMs ?? 2 * 86_400_000));
    const timeoutMs = Math.max(50, Math.min(3000, this.deps.clock.toRealMs(this.deps.intervalMs) * 0.8));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < running.length) {
        const d = running[next++] as DeploymentRecord;
        const atMs = this.deps.clock.nowMs();
        const { reachable } = await this.deps.probe(d.myceliumIp, this.deps.port, timeoutMs);
        await this.observe(d, atMs, reachable);
      }
    };
    await Promise.all(Array.from({ length: Math.min(64, running.length) }, worker));
  }

  private async observe(d: DeploymentRecord, atMs: number, reachable: boolean): Promise<void> {
    const subject = `vm:${d.id}` as const;
    if (!this.deps.hasAgent(d)) {
      this.deps.uptime.record(subject, { atMs, up: reachable });
      return;
    }
    this.deps.uptime.record(`probe:${d.id}`, { atMs, up: reachable });
    const reported = this.deps.uptime.last(subject);
    if (!reported || atMs - reported.atMs > 2 * this.deps.intervalMs) return;
    if (reported.up === reachable) {
      this.streaks.delete(d.id);
      this.suspicions.delete(d.id);
      return;
    }
    const suspectedAtReportMs = this.suspicions.get(d.id);
    if (suspectedAtReportMs === undefined || reported.atMs <= suspectedAtReportMs) {
      if (suspectedAtReportMs === undefined) this.suspicions.set(d.id, reported.atMs);
      return;
    }
    this.deps.onDisagreement?.(d.farmer);
    this.markDisputed(d.id, atMs);
    if (this.streaks.has(d.id)) return;
    this.streaks.add(d.id);
    await this.deps.events.record({
      atMs,
      event: 'agent.probe_disagreement',
      detail: `the agent reports ${d.id} ${reported.up ? 'reachable' : 'unreachable'}, the gateway's probes found it ${reachable ? 'reachable' : 'unreachable'} (twice, across two of the agent's reports)`,
      deployment: d.id,
      agent: d.farmer,
      node: d.node,
    });
  }

  disputed(deploymentId: string, fromMs: number, toMs: number): boolean {
    return (this.disputes.get(deploymentId) ?? []).some(([first, last]) => last >= fromMs && first < toMs);
  }

  /** Extends the VM's current dispute span, or starts one when the last ended over 3 intervals ago. */
  private markDisputed(id: string, atMs: number): void {
    const spans = this.disputes.get(id) ?? [];
    const tail = spans[spans.length - 1];
    if (tail && atMs - tail[1] <= 3 * this.deps.intervalMs) tail[1] = Math.max(tail[1], atMs);
    else spans.push([atMs, atMs]);
    this.disputes.set(id, spans);
  }

  private pruneDisputes(beforeMs: number): void {
    for (const [id, spans] of this.disputes) {
      while (spans.length > 0 && (spans[0] as [number, number])[1] < beforeMs) spans.shift();
      if (spans.length === 0) this.disputes.delete(id);
    }
  }
}
