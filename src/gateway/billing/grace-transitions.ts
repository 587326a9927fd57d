// Grace: a deployment with arrears enters it, leaves it once they are paid, and is deprovisioned when it ends.
import type { EventName } from '../events/event-catalogue.js';
import { formatAmount } from '../../protocol/money.js';
import type { DeploymentRecord } from '../store/records.js';
import type { BillingDeps } from './billing-deps.js';
import { graceStep } from './grace-rule.js';

/** What grace transitions need of the gateway (of the receipt log, only a deployment's arrears). */
export type GraceTransitionsDeps = Pick<BillingDeps, 'clock' | 'deployments' | 'lifecycle' | 'events' | 'policy'> & { readonly receipts: Pick<BillingDeps['receipts'], 'arrearsOfDeployment'> };

/** Moves deployments in and out of grace from their arrears in the receipt log (run after every settle, whether the ledger answered or not). */
export class GraceTransitions {
  constructor(private readonly deps: GraceTransitionsDeps) {}

  /** active -> grace on arrears; grace -> active once they are paid; grace -> deprovisioned when it ends. */
  async run(): Promise<void> {
    const now = this.deps.clock.nowMs();
    for (const listed of this.deps.deployments.values()) {
      // Read again: the run awaits (a pause is a command to an agent) and a customer may cancel, or
      // fund, meanwhile; a record from the list taken at the start would write that change away.
      const d = this.deps.deployments.get(listed.id);
      if (d === undefined || (d.state !== 'active' && d.state !== 'grace')) continue;
      const arrears = this.deps.receipts.arrearsOfDeployment(d.id);
      const step = graceStep(d, arrears, now, this.deps.policy.graceMs);
      if (step.kind === 'enter') {
        const next: DeploymentRecord = { ...d, state: 'grace', graceSinceMs: now, graceUntilMs: step.untilMs };
        await this.deps.deployments.put(d.id, next);
        await this.event(next, 'deployment.grace', `funds ran out: ${formatAmount(arrears)} ${d.unit} of charges could not be paid from the agreement; deprovisioned at ${new Date(step.untilMs).toISOString()} unless it is funded`);
        if (this.deps.policy.pauseInGrace) await this.deps.lifecycle.setPaused(next, true, 'paused for the grace period (funds ran out)');
      } else if (step.kind === 'leave') {
        const { graceSinceMs: _s, graceUntilMs: _u, ...rest } = d;
        const next: DeploymentRecord = { ...rest, state: 'active' };
        await this.deps.deployments.put(d.id, next);
        await this.event(next, 'deployment.active_again', 'arrears paid after funds arrived; back to active');
        if (d.paused) await this.deps.lifecycle.setPaused(next, false, 'resumed: arrears paid');
      } else if (step.kind === 'end') {
        await this.deps.lifecycle.end(d, 'out_of_funds', `the grace period ended at ${new Date(step.untilMs).toISOString()} with ${formatAmount(arrears)} ${d.unit} unpaid`);
      }
    }
  }

  /** A deployment's event on the timeline, naming its customer, order and node. */
  private event(d: DeploymentRecord, event: EventName, detail: string): Promise<void> {
    return this.deps.events.record({ atMs: this.deps.clock.nowMs(), event, detail, deployment: d.id, customer: d.customer, order: d.order, node: d.node });
  }
}
