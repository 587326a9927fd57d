// Whether a VM whose node died should be deployed again elsewhere now: a pure decision over the evidence and the time.

/** A day, for the attempts-per-day bound. */
export const DAY_MS = 86_400_000;

/** The operator's redeploy policy (config `redeploy`). */
export interface RedeployPolicy {
  /** How long both the agent and the probes must have found the VM down (default 30 min). */
  readonly afterMs: number;
  /** Attempts within any 24 h (default 3): then the deployment waits, it never loops. */
  readonly maxPerDay: number;
}

/** What the gateway knows about one VM at `nowMs`. */
export interface RedeployEvidence {
  readonly nowMs: number;
  /** When the VM's current placement began (handed over, or last moved): down time is never counted before it. */
  readonly placedAtMs: number;
  /** Whether the agent's reports count the VM up now (for a VM no agent reports on: the probes' evidence). */
  readonly agentUp: boolean;
  /** The last time the agent's evidence had the VM up, if any. */
  readonly lastAgentUpMs?: number;
  /** Whether the gateway's latest probe reached it. */
  readonly probeUp: boolean;
  /** Whether the gateway probed it at all since the placement (no probes: no second witness, no move). */
  readonly probed: boolean;
  /** The last time a probe reached it, if any. */
  readonly lastProbeUpMs?: number;
  /** Times of the redeploy attempts made for this deployment (successful or not). */
  readonly attemptsMs: readonly number[];
}

/** The decision, with what the customer and the admin are told. */
export type RedeployDecision =
  | { readonly kind: 'healthy' }
  | { readonly kind: 'wait'; readonly downForMs: number; readonly reason: string }
  | { readonly kind: 'redeploy'; readonly downForMs: number }
  | { readonly kind: 'exhausted'; readonly downForMs: number; readonly nextAttemptAtMs: number };

/**
 * Redeploy only when the agent's evidence and the gateway's probes both say down, and have for
 * `afterMs` since the later of their last "up" (or the placement); at most `maxPerDay` attempts
 * in any 24 h, after which the deployment waits until the oldest attempt is a day old.
 */
export function decideRedeploy(e: RedeployEvidence, policy: RedeployPolicy): RedeployDecision {
  if (e.agentUp || e.probeUp) return { kind: 'healthy' };
  const downSinceMs = Math.max(e.placedAtMs, e.lastAgentUpMs ?? -Infinity, e.lastProbeUpMs ?? -Infinity);
  const downForMs = Math.max(0, e.nowMs - downSinceMs);
  if (!e.probed) return { kind: 'wait', downForMs, reason: "the agent reports it down, but the gateway's probes have not checked it yet" };
  if (downForMs < policy.afterMs) return { kind: 'wait', downForMs, reason: `down for ${Math.round(downForMs / 60_000)} min, redeployed after ${Math.round(policy.afterMs / 60_000)} min` };
  const recent = e.attemptsMs.filter((t) => t > e.nowMs - DAY_MS && t <= e.nowMs);
  if (recent.length >= policy.maxPerDay) return { kind: 'exhausted', downForMs, nextAttemptAtMs: Math.min(...recent) + DAY_MS };
  return { kind: 'redeploy', downForMs };
}
