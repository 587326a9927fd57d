// What the gateway's main thread and its lease worker say to each other: the worker's start data and the messages both ways.
import type { GatewayRole } from './lease.js';
import type { LeaseClaim } from './lease-rules.js';

/** The worker's `workerData`: everything it needs to keep the lease on its own connection. */
export interface LeaseWorkerData {
  /** `postgres://…`; never logged (it may carry a password). */
  readonly databaseUrl: string;
  readonly claim: LeaseClaim;
  readonly ttlMs: number;
  /** `ha.stallSeconds` in ms: past it without a liveness stamp the worker gives the lease up. */
  readonly stallMs: number;
  /** No round for this long at first (LeaseKeeperDeps.holdOffMs): 0 for the gateway's first worker. */
  readonly holdOffMs: number;
  /** The LeaseSharedState buffer (liveness stamp, token held). */
  readonly shared: SharedArrayBuffer;
}

/** What the main thread shows of the lease between messages (standby server, metrics, status). */
export interface LeaseView {
  readonly role: GatewayRole;
  /** The token held, 0 as a standby. */
  readonly token: number;
  readonly activeUrl: string | undefined;
  readonly outage: string | null;
}

/** A lease event, as the Lease port announces it (src/gateway/ha/lease.ts LeaseEvents). */
export type LeaseEventMessage =
  | { readonly name: 'active'; readonly token: number }
  | { readonly name: 'standby'; readonly reason: string; readonly activeUrl: string | undefined }
  | { readonly name: 'outage'; readonly message: string };

/** Worker → main thread. */
export type FromLeaseWorker =
  /** The lease's state after a change, with the event that changed it (if any). */
  | { readonly kind: 'view'; readonly view: LeaseView; readonly event?: LeaseEventMessage }
  /** The first round is done: the role is known. */
  | { readonly kind: 'started'; readonly view: LeaseView }
  /** A line for the gateway's log. */
  | { readonly kind: 'log'; readonly message: string }
  /** A `resign` or `close` asked with this id is done. */
  | { readonly kind: 'done'; readonly id: number };

/** Main thread → worker. */
export type ToLeaseWorker =
  /** A write under this token was fenced: step down now, if still in that term. */
  | { readonly kind: 'fenced'; readonly token: number }
  /** Give this term's lease up and sit out one ttl (its active parts failed to start); nothing if the term already ended. */
  | { readonly kind: 'resign'; readonly id: number; readonly reason: string; readonly token: number }
  /** Stop the rounds, release the lease if held, close the connection. */
  | { readonly kind: 'close'; readonly id: number };
