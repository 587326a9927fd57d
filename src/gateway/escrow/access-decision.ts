// The access escrow rule: from handover until access is settled, what a login, the customer's word, a complaint or the clock does to it (pure).
import type { AccessRecord } from '../store/records.js';

/** A new deployment's escrow: pending until `windowMs` after handover; undefined when escrow is off (window 0). */
export function newAccessRecord(handoverMs: number, windowMs: number): AccessRecord | undefined {
  return windowMs > 0 ? { state: 'pending', windowEndsAtMs: handoverMs + windowMs } : undefined;
}

/** Something that can settle a deployment's access. */
export type AccessEvent =
  /** The farmer's agent saw one of the deployment's keys authenticate on the VM. */
  | { readonly kind: 'login'; readonly keyFingerprint: string }
  /** The customer said they got in (POST …/access {"ok": true}). */
  | { readonly kind: 'confirm' }
  /**
   * The customer said they cannot get in. `probeReachable`: the gateway's own probe of the VM
   * right now (null when it has none); the agent saw no login, or access would be verified.
   */
  | { readonly kind: 'complain'; readonly reason: string; readonly probeReachable: boolean | null }
  /** Time passed: `vmWasUp` says whether the VM has been up at all since handover. */
  | { readonly kind: 'tick'; readonly vmWasUp: boolean };

/** What the event does: nothing, a new access record, or a refusal the customer is told. */
export type AccessDecision =
  | { readonly kind: 'none' }
  | { readonly kind: 'settle'; readonly access: AccessRecord; readonly detail: string }
  | { readonly kind: 'refuse'; readonly message: string; readonly hint: string };

/**
 * Decides what `event` at `nowMs` does to `access`. Settled access stays settled (a login after
 * a verified window changes nothing). A complaint counts only inside the window and only while
 * access is pending: pending means the agent saw no successful login of the customer's keys,
 * which is the evidence the issue asks for besides the probe; the probe's answer goes in the detail.
 */
export function decideAccess(access: AccessRecord, event: AccessEvent, nowMs: number): AccessDecision {
  if (access.state !== 'pending') {
    if (event.kind === 'complain' || event.kind === 'confirm') {
      return { kind: 'refuse', message: `access to this deployment is already ${access.state}${access.how ? ` (${access.how})` : ''}`, hint: access.state === 'verified' ? 'the held charges were released; to stop paying, cancel it (DELETE /v1/deployments/{id})' : 'the deployment has ended' };
    }
    return { kind: 'none' };
  }
  const settled = (state: 'verified' | 'failed', how: AccessRecord['how'], extra: Partial<AccessRecord>, detail: string): AccessDecision => ({
    kind: 'settle',
    access: { ...access, ...extra, state, how, settledAtMs: nowMs },
    detail,
  });
  switch (event.kind) {
    case 'login':
      return settled('verified', 'login', { loginKey: event.keyFingerprint }, `the farmer's agent saw the key ${event.keyFingerprint} log in: access verified, held charges released`);
    case 'confirm':
      return settled('verified', 'customer', {}, 'the customer confirmed access: held charges released');
    case 'complain': {
      if (nowMs >= access.windowEndsAtMs) {
        return { kind: 'refuse', message: `the access window ended at ${new Date(access.windowEndsAtMs).toISOString()}`, hint: 'a report of no access counts only within the window after handover; cancel the deployment instead (DELETE /v1/deployments/{id})' };
      }
      const probe = event.probeReachable === null ? 'the gateway has no probe of it' : event.probeReachable ? "the gateway's probe reaches its SSH port" : "the gateway's probe cannot reach it";
      return settled('failed', 'complaint', { complaint: event.reason }, `the customer reported no access (${event.reason}); the agent saw no login, and ${probe}: the deployment ends and the held charges are returned`);
    }
    case 'tick':
      if (nowMs < access.windowEndsAtMs || !event.vmWasUp) return { kind: 'none' };
      return settled('verified', 'window', {}, `the access window ended at ${new Date(access.windowEndsAtMs).toISOString()} with the VM up and no complaint: held charges released`);
  }
}
