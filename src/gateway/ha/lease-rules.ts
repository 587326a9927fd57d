// The active lease's rules, pure: who holds it after one round of a gateway asking (acquire when free or expired, renew, or wait), and whether a gateway whose main thread went quiet may still take part.

/** The lease row as the database keeps it (times on the database's clock, ms since the epoch). */
export interface LeaseRow {
  /** The holding gateway process (its URL and a per-start nonce): a restarted gateway is a new holder. */
  readonly holder: string;
  /** The holder's URL, which standbys show customers and agents. */
  readonly url: string;
  /** The fencing token: raised by one on every takeover, never on a renewal; writes carry it. */
  readonly token: number;
  /** The lease is the holder's until this time. */
  readonly expiresAtMs: number;
}

/** A gateway asking for the lease. */
export interface LeaseClaim {
  readonly holder: string;
  readonly url: string;
}

/** What one round decided; `row` is what the lease row is afterwards (written unless `waited`). */
export type LeaseOutcome =
  | { readonly kind: 'acquired'; readonly row: LeaseRow }
  | { readonly kind: 'renewed'; readonly row: LeaseRow }
  | { readonly kind: 'waited'; readonly row: LeaseRow };

/**
 * One round for `me` at `nowMs` (the database's time): the holder renews for `ttlMs` more; anyone
 * takes a free or expired lease with the next token; otherwise the claimant waits. An expired lease
 * is never renewed under the same token: once it lapsed another gateway may have written, so even
 * the old holder comes back with a new token (and reloads state) rather than resuming.
 */
export function decideLease(current: LeaseRow | undefined, me: LeaseClaim, nowMs: number, ttlMs: number): LeaseOutcome {
  if (!(ttlMs > 0)) throw new RangeError('decideLease: ttlMs must be positive');
  const live = current !== undefined && current.expiresAtMs > nowMs;
  if (live && current.holder === me.holder) return { kind: 'renewed', row: { ...current, url: me.url, expiresAtMs: nowMs + ttlMs } };
  if (live) return { kind: 'waited', row: current };
  return { kind: 'acquired', row: { holder: me.holder, url: me.url, token: (current?.token ?? 0) + 1, expiresAtMs: nowMs + ttlMs } };
}

/** The lease's time to live for a configured takeover bound: a dead holder's lease lapses within ttl, and a standby asks every ttl/3, so takeover ≤ ttl + ttl/3 + one round. */
export function leaseTtlMs(takeoverMs: number): number {
  return Math.floor((takeoverMs * 2) / 3);
}

/** How often a gateway asks (renews or polls): three rounds per ttl, so two may fail before a live holder loses. */
export function leaseRoundMs(ttlMs: number): number {
  return Math.max(50, Math.floor(ttlMs / 3));
}

/** Whether a gateway may take part in the lease this round, judged from how long its main thread has been silent. */
export type LivenessVerdict = 'renew' | 'stand-down';

/**
 * The lease is kept by a worker thread so that a busy main thread (a state reload, a big period
 * close, a long GC) cannot starve the renewals; but a main thread that has truly hung must not hold
 * the lease for ever. So the worker renews (or, as a standby, asks) only while the main thread's last
 * liveness stamp is younger than `stallMs`, a bound separate from and larger than the lease's ttl:
 * stalls shorter than it cost nothing, and a gateway silent that long stands down (gives the lease up).
 * `silentMs` is the age of the stamp; a negative one (the stamp was written after the worker read the
 * time) counts as zero.
 */
export function decideLiveness(silentMs: number, ttlMs: number, stallMs: number): LivenessVerdict {
  if (!(ttlMs > 0)) throw new RangeError('decideLiveness: ttlMs must be positive');
  // A bound within the ttl would make the worker pointless: stalls the lease already survives would end it.
  if (!(stallMs > ttlMs)) throw new RangeError('decideLiveness: stallMs must be larger than ttlMs');
  return Math.max(0, silentMs) < stallMs ? 'renew' : 'stand-down';
}
