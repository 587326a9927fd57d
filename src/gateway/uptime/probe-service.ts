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
}

/**
 * Every heartbeat interval, a TCP connect to each running VM from the gateway itself. For a
 * VM on a node without an agent (grid VMs), the probe IS the evidence: its samples go into the
 * up-time book. For a VM an agent reports on, a probe that disagrees with the agent's latest,
 * still-fresh report is counted against that farmer and shown to admins (one event per streak).
 */
export class ProbeService {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  private readonly streaks = new Set<string>();

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
    const reported = this.deps.uptime.last(subject);
    if (!reported || atMs - reported.atMs > 2 * this.deps.intervalMs) return;
    if (reported.up === reachable) {
      this.streaks.delete(d.id);
      return;
    }
    this.deps.onDisagreement?.(d.farmer);
    if (this.streaks.has(d.id)) return;
    this.streaks.add(d.id);
    await this.deps.events.record({
      atMs,
      event: 'agent.probe_disagreement',
      detail: `the agent reports ${d.id} ${reported.up ? 'reachable' : 'unreachable'}, the gateway's probe found it ${reachable ? 'reachable' : 'unreachable'}`,
      deployment: d.id,
      agent: d.farmer,
      node: d.node,
    });
  }
}
