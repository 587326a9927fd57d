// Keeps (or waits for) the active lease: a round every ttl/3 on its own connection, stepping down on its own clock when renewals stop answering (run in the lease worker thread, src/gateway/ha/lease-worker.ts).
import type { Clock } from '../../protocol/clock.js';
import { errorMessage } from '../../identity/error-message.js';
import { TypedEmitter } from '../../protocol/typed-emitter.js';
import type { GatewayRole, Lease, LeaseEvents } from './lease.js';
import { decideLiveness, leaseRoundMs, type LeaseClaim, type LeaseOutcome } from './lease-rules.js';

/** Where the lease row lives: one atomic read-decide-write per round (`decideLease` inside a transaction). */
export interface LeaseStore {
  /**
   * Opens the round's connection if it has none (after an outage every round starts with a connect).
   * The keeper reads its clock only after this: a slow connect (a database just restarted, a loaded
   * host) must not eat into the lease a round then takes, whose expiry the database counts from the
   * round's own statement.
   */
  ready(): Promise<void>;
  round(me: LeaseClaim, ttlMs: number): Promise<LeaseOutcome>;
  /** Ends the lease now if `me` still holds it under `token` (a clean stop hands over at once). */
  release(me: LeaseClaim, token: number): Promise<void>;
  close(): Promise<void>;
}

/** The shortest wait between two rounds (the same floor as leaseRoundMs): a lease nearly out is renewed soon, not in a busy loop. */
const MIN_ROUND_GAP_MS = 50;

/** What a keeper needs. */
export interface LeaseKeeperDeps {
  readonly store: LeaseStore;
  readonly claim: LeaseClaim;
  readonly ttlMs: number;
  /** This host's real time (never the lab's scaled clock): a lease is real seconds. */
  readonly clock: Clock;
  /** Told when a round fails or the role changes. */
  readonly onLog?: (message: string) => void;
  /**
   * Run in the lease worker: how long the gateway's main thread has been silent, and the bound
   * (`ha.stallSeconds`) past which this keeper neither renews nor asks but gives the lease up.
   */
  readonly liveness?: { silentMs(): number; readonly stallMs: number };
  /**
   * No round for this long after the keeper is made, as after a resignation: a lease worker started
   * again after one died sits out while the lease that one held lapses, so a standby that was
   * watching takes it, instead of whichever of the two asked first after the lapse.
   */
  readonly holdOffMs?: number;
}

/**
 * The active/standby state of one gateway. Active from a round that acquired the lease until a round
 * sees another holder, or until `ttl` after the start of its last successful round passes on this
 * host's clock without a renewal (the database cannot be reached): the holder steps down before its
 * lease can have lapsed in the database, so two gateways never both act. The write fence is the
 * backstop for a holder paused past that point.
 */
export class LeaseKeeper implements Lease {
  readonly kind = 'postgres';
  readonly signals = new TypedEmitter<LeaseEvents>();
  private current: GatewayRole = 'standby';
  private token = 0;
  private url: string | undefined;
  private validUntilMs = 0;
  private lastOutage: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  /** Whether a role was announced yet (a standby's first round says so once). */
  private announced = false;
  /** After a resignation, no round until this time (this host's clock). */
  private cooldownUntilMs: number;

  constructor(private readonly deps: LeaseKeeperDeps) {
    this.cooldownUntilMs = deps.holdOffMs !== undefined && deps.holdOffMs > 0 ? deps.clock.nowMs() + deps.holdOffMs : 0;
  }

  role(): GatewayRole {
    return this.current;
  }

  term(): number | undefined {
    return this.current === 'active' ? this.token : undefined;
  }

  activeUrl(): string | undefined {
    if (this.current === 'active') return this.deps.claim.url;
    // A standby never names itself (it stepped down, or its database is unreachable): that would send clients round in a circle.
    return this.url === this.deps.claim.url ? undefined : this.url;
  }

  outage(): string | null {
    return this.lastOutage;
  }

  /** The token held and until when (this keeper's clock), or undefined when not active: what the lease worker publishes to the main thread. */
  holding(): { token: number; validUntilMs: number } | undefined {
    return this.current === 'active' ? { token: this.token, validUntilMs: this.validUntilMs } : undefined;
  }

  /** The fencing token and holder this gateway writes under, or undefined when it is not (or no longer surely) active. */
  writeToken(): { holder: string; token: number } | undefined {
    this.expire();
    return this.current === 'active' ? { holder: this.deps.claim.holder, token: this.token } : undefined;
  }

  /**
   * How long (this keeper's clock) until the next round should start: every ttl/3, or sooner when
   * the lease held would otherwise end before that round's renewal could answer in time. A round
   * whose answer came late (the database or the host stalled while it waited) leaves a lease valid
   * here for only what is left of the ttl counted from the ask; left to the usual cadence it expired
   * before the next renewal, and the gateway stepped down and took the same lease again a round
   * later, stopping and reloading every part twice for one stall.
   */
  nextRoundInMs(): number {
    const every = leaseRoundMs(this.deps.ttlMs);
    // After a failed round the usual cadence stands: an unreachable database is not asked in a tight loop.
    if (this.current !== 'active' || this.lastOutage !== null) return every;
    // Renew while at least one round's time is left on the lease, so a renewal that answers within a round still counts.
    const left = this.validUntilMs - this.deps.clock.nowMs();
    return Math.min(every, Math.max(MIN_ROUND_GAP_MS, left - every));
  }

  /** One round now (rounds never overlap): acquire, renew, wait, or note an outage. */
  round(): Promise<void> {
    this.running ??= this.roundOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Steps down when the last renewal is older than the ttl on this host's clock; the watchdog calls it. */
  expire(): void {
    if (this.current === 'active' && this.deps.clock.nowMs() >= this.validUntilMs) this.stepDown('the lease was not renewed in time (database unreachable?)', undefined);
  }

  /**
   * Gives the lease up because this gateway could not act on it (its active parts failed to start):
   * releases the row and sits out one ttl of rounds, so another gateway takes over instead.
   */
  async resign(reason: string, term?: number): Promise<void> {
    if (this.current !== 'active' || (term !== undefined && term !== this.token)) return;
    const token = this.token;
    this.cooldownUntilMs = this.deps.clock.nowMs() + this.deps.ttlMs;
    this.stepDown(reason, undefined);
    await this.deps.store.release(this.deps.claim, token).catch((err: unknown) => this.deps.onLog?.(`lease.release: ${errorMessage(err)}`));
  }

  /** The fence found this gateway's token (`token`, when named) superseded: step down now, unless that term already ended. */
  fenced(token?: number): void {
    if (this.current === 'active' && (token === undefined || token === this.token)) this.stepDown('a write was fenced: another gateway holds the lease', undefined);
  }

  async start(): Promise<void> {
    await this.round();
    const loop = (): void => {
      this.timer = setTimeout(() => void this.round().finally(() => !this.closed && loop()), this.deps.clock.toRealMs(this.nextRoundInMs()));
    };
    if (!this.closed) loop();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    await this.running?.catch(() => undefined);
    if (this.current === 'active') {
      const token = this.token;
      this.stepDown('the gateway is stopping', undefined);
      await this.deps.store.release(this.deps.claim, token).catch((err: unknown) => this.deps.onLog?.(`lease.release: ${errorMessage(err)}`));
    }
    await this.deps.store.close();
  }

  private async roundOnce(): Promise<void> {
    if (this.deps.clock.nowMs() < this.cooldownUntilMs) return;
    if (this.deps.liveness !== undefined) {
      const silentMs = this.deps.liveness.silentMs();
      if (decideLiveness(silentMs, this.deps.ttlMs, this.deps.liveness.stallMs) === 'stand-down') return this.standDownSilent(silentMs);
    }
    let askedAtMs = this.deps.clock.nowMs();
    let outcome: LeaseOutcome;
    try {
      await this.deps.store.ready();
      // Counted from here, not from before the connect: a lease taken by a round whose connect took most
      // of a ttl was otherwise already near its end here, and expired before its first renewal although
      // the database held it for a full ttl; the reload's writes were refused, the gateway gave the lease
      // up, and the other took it: two takeovers for one recovery.
      askedAtMs = this.deps.clock.nowMs();
      outcome = await this.deps.store.round(this.deps.claim, this.deps.ttlMs);
    } catch (err) {
      const message = `lease: the database did not answer: ${errorMessage(err)}`;
      if (this.lastOutage === null) this.deps.onLog?.(message);
      this.lastOutage = message;
      this.signals.emit('outage', message);
      this.expire();
      return;
    }
    if (this.closed) return;
    this.lastOutage = null;
    // A holder whose last renewal is ttl old steps down before this answer counts, even if its watchdog
    // has not run yet (a stalled event loop): a lease taken again under a new token is then a takeover
    // that reloads state, never a silent continuation of the old term.
    this.expire();
    // Acquired anew while still active here (clocks apart): the old term ended in the database, so it ends here too.
    if (outcome.kind === 'acquired' && this.current === 'active') this.stepDown('the lease lapsed in the database before it was renewed', undefined);
    if (outcome.kind === 'waited') {
      this.url = outcome.row.url;
      if (this.current === 'active') this.stepDown('another gateway holds the lease', outcome.row.url);
      else if (!this.announced) this.signals.emit('standby', 'another gateway holds the lease', outcome.row.url);
      this.announced = true;
      return;
    }
    // Valid from when we asked, not when the answer came: the database's expiry is at least that late.
    this.validUntilMs = askedAtMs + this.deps.ttlMs;
    this.armWatchdog();
    const takeover = outcome.kind === 'acquired' || this.current !== 'active' || outcome.row.token !== this.token;
    this.token = outcome.row.token;
    this.url = outcome.row.url;
    this.announced = true;
    if (takeover) {
      this.current = 'active';
      this.deps.onLog?.(`lease: active under token ${this.token}`);
      this.signals.emit('active', this.token);
    }
  }

  /**
   * The main thread has not run for the stall bound: it is hung, not busy. A holder gives the lease up
   * (released at once, so the standby need not wait out the ttl; its writes, if it ever wakes, are
   * fenced); a standby does not ask. Rounds go on, so a main thread that comes back takes part again.
   */
  private async standDownSilent(silentMs: number): Promise<void> {
    if (this.current !== 'active') return;
    const token = this.token;
    this.stepDown(`the gateway's main thread has not run for ${(silentMs / 1000).toFixed(1)} s, past ha.stallSeconds: the lease is given up`, undefined);
    await this.deps.store.release(this.deps.claim, token).catch((err: unknown) => this.deps.onLog?.(`lease.release: ${errorMessage(err)}`));
  }

  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    const waitMs = Math.max(0, this.validUntilMs - this.deps.clock.nowMs());
    this.watchdog = setTimeout(() => this.expire(), this.deps.clock.toRealMs(waitMs));
    this.watchdog.unref();
  }

  private stepDown(reason: string, activeUrl: string | undefined): void {
    this.current = 'standby';
    clearTimeout(this.watchdog);
    this.deps.onLog?.(`lease: standby (${reason})`);
    this.signals.emit('standby', reason, activeUrl);
  }
}
