// The Lease port: whether this gateway is the active one now, and what it announces when that changes.
import type { TypedEmitter } from '../../protocol/typed-emitter.js';

/** A gateway's role: only the active one writes, bills, probes, provisions and accepts agents. */
export type GatewayRole = 'active' | 'standby';

/** What a lease announces. */
export type LeaseEvents = {
  /** This gateway now holds the lease under `token` (a takeover: state must be reloaded before acting). */
  readonly active: [token: number];
  /** This gateway lost the lease (or never had it); `activeUrl` is the holder's, when one is known. */
  readonly standby: [reason: string, activeUrl: string | undefined];
  /** The lease's database did not answer a round (the gateway reports it; the fence refuses writes). */
  readonly outage: [message: string];
};

/** The lease a gateway runs under. */
export interface Lease {
  readonly kind: 'embedded' | 'postgres';
  readonly signals: TypedEmitter<LeaseEvents>;
  role(): GatewayRole;
  /** The fencing token of the term this gateway is active in, or undefined as a standby: a new token is a new term (state reloaded). */
  term(): number | undefined;
  /** The active gateway's URL as last seen (this gateway's own when active). */
  activeUrl(): string | undefined;
  /** The database's last outage message, or null when the last round answered. */
  outage(): string | null;
  /** Runs the first round (so the role is known), then keeps renewing or polling. */
  start(): Promise<void>;
  /** Stops the rounds and, when active, gives the lease up so a standby takes over at once. */
  close(): Promise<void>;
}
