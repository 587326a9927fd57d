// The grace rule: what a deployment's arrears and the time mean for its state, decided without I/O so it is tested on a fake clock.
import type { DeploymentRecord } from '../store/records.js';

/** What to do with one deployment after a settle. */
export type GraceStep =
  | { readonly kind: 'stay' }
  /** active with arrears: into grace until `untilMs`. */
  | { readonly kind: 'enter'; readonly untilMs: number }
  /** in grace with nothing owed: back to active (paid wins over an ended grace: the money came first). */
  | { readonly kind: 'leave' }
  /** in grace, still owing, and the grace period is over: deprovision. */
  | { readonly kind: 'end'; readonly untilMs: number };

/** The step for deployment `d` owing `arrearsMicros` at `nowMs`, with grace lasting `graceMs`. */
export function graceStep(d: Pick<DeploymentRecord, 'state' | 'graceUntilMs'>, arrearsMicros: bigint, nowMs: number, graceMs: number): GraceStep {
  if (d.state === 'active') return arrearsMicros > 0n ? { kind: 'enter', untilMs: nowMs + graceMs } : { kind: 'stay' };
  if (d.state !== 'grace') return { kind: 'stay' };
  if (arrearsMicros === 0n) return { kind: 'leave' };
  // A grace record without an end (written by hand, or by a build that lost it) is not ended by guesswork.
  if (d.graceUntilMs !== undefined && nowMs >= d.graceUntilMs) return { kind: 'end', untilMs: d.graceUntilMs };
  return { kind: 'stay' };
}
