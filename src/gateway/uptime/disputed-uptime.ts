// The up-time billed for a VM whose farmer's reports and the gateway's own probes disagree: a pure rule over plain numbers.

/** What is known of one VM in one billed span (whole seconds). */
export interface UptimeEvidence {
  /** Up-seconds from the farmer's agent's heartbeats (the usual evidence). */
  readonly agentUpSeconds: number;
  /** Up-seconds from the gateway's own probes of the VM, or null when it did not probe it. */
  readonly gatewayUpSeconds: number | null;
  /** Whether the gateway's probes disagreed with the agent's reports within the span (probe-service.ts). */
  readonly disputed: boolean;
}

/** Both sides' figures, carried on the receipt and shown to the admin when they disagreed. */
export interface UptimeDispute {
  readonly agentUpSeconds: number;
  readonly gatewayUpSeconds: number;
}

/** The up-seconds to bill, and the dispute behind them, if any. */
export interface BilledUptime {
  readonly upSeconds: number;
  readonly dispute: UptimeDispute | null;
}

/**
 * Without a dispute the agent's evidence is billed, as before: the gateway's probes cross the
 * overlay and can miss for reasons that are not the farmer's. Once the probes disagreed with
 * the agent in the span, neither side is taken on trust: the customer pays for the smaller of
 * the two, so a farmer cannot bill time by reporting a VM up that the gateway could not reach,
 * and the dispute is carried so both the admin and the farmer can see why.
 */
export function billableUptime(e: UptimeEvidence): BilledUptime {
  if (!e.disputed || e.gatewayUpSeconds === null) return { upSeconds: e.agentUpSeconds, dispute: null };
  return { upSeconds: Math.min(e.agentUpSeconds, e.gatewayUpSeconds), dispute: { agentUpSeconds: e.agentUpSeconds, gatewayUpSeconds: e.gatewayUpSeconds } };
}
