// The PostgreSQL lease as the gateway's main thread sees it: kept by a worker thread (so a busy main thread cannot starve the renewals), with a liveness stamp so a hung one still loses it.
import { Worker } from 'node:worker_threads';
import { TypedEmitter } from '../../protocol/typed-emitter.js';
import type { FenceSource } from './lease-fence.js';
import { leaseRoundMs, type LeaseClaim } from './lease-rules.js';
import type { GatewayRole, Lease, LeaseEvents } from './lease.js';
import { LeaseSharedState, MonotonicClock, monotonicMs } from './lease-shared-state.js';
import type { FromLeaseWorker, LeaseView, LeaseWorkerData, ToLeaseWorker } from './lease-worker-protocol.js';
import { RespawnBackoff } from './respawn-backoff.js';

/** How often the main thread stamps that it runs: cheap (one atomic store), and fine-grained next to any stall bound (≥ 2 s). */
const LIVENESS_STAMP_MS = 250;

/** What a worker lease needs. */
export interface WorkerLeaseOptions {
  /** `postgres://…`; never logged. */
  readonly databaseUrl: string;
  readonly claim: LeaseClaim;
  readonly ttlMs: number;
  /** `ha.stallSeconds` in ms (larger than the ttl). */
  readonly stallMs: number;
  /** Lines for the gateway's log (failed rounds, role changes, stalls, a worker that died). */
  readonly onLog: (message: string) => void;
}

const STANDBY: LeaseView = { role: 'standby', token: 0, activeUrl: undefined, outage: null };

/**
 * The lease rounds, their watchdog and the lease's connection run in a worker thread
 * (src/gateway/ha/lease-worker.ts) with its own event loop, so a state reload, a big period close or
 * a long GC on the main thread no longer costs the lease. The main thread stamps a shared word every
 * 250 ms; the worker renews only while that stamp is younger than `stallMs`, so a hung gateway still
 * loses the lease. Every write checks the shared memory first (the worker still holds this token,
 * unexpired), then the database fence checks the token in the write's own transaction, as before.
 * A worker that dies unasked makes the gateway stand down at once; a fresh one is started one ttl
 * later, and after each further worker that died young twice as long, up to a minute (RespawnBackoff).
 */
export class WorkerLease implements Lease, FenceSource {
  readonly kind = 'postgres';
  readonly signals = new TypedEmitter<LeaseEvents>();
  private readonly shared = new LeaseSharedState();
  private current: LeaseView = STANDBY;
  private worker: Worker | undefined;
  private stamper: NodeJS.Timeout | undefined;
  private respawn: NodeJS.Timeout | undefined;
  private lastStampMs = 0;
  private closing = false;
  private nextId = 1;
  private readonly waiting = new Map<number, () => void>();
  private readonly backoff: RespawnBackoff;

  constructor(private readonly options: WorkerLeaseOptions) {
    this.backoff = new RespawnBackoff(new MonotonicClock(), options.ttlMs);
  }

  role(): GatewayRole {
    return this.current.role;
  }

  term(): number | undefined {
    return this.current.role === 'active' ? this.current.token : undefined;
  }

  activeUrl(): string | undefined {
    return this.current.activeUrl;
  }

  outage(): string | null {
    return this.current.outage;
  }

  /** The token to write under: only while the worker still holds it, unexpired, right now (read from the shared memory, not from the last message). */
  writeToken(): { holder: string; token: number } | undefined {
    const { role, token } = this.current;
    return role === 'active' && this.shared.holds(token, monotonicMs()) ? { holder: this.options.claim.holder, token } : undefined;
  }

  /** The fence found `token` superseded: no more writes here, and the worker steps down (unless that term already ended). */
  fenced(token: number): void {
    if (this.current.role !== 'active' || this.current.token !== token) return;
    this.current = { ...this.current, role: 'standby', token: 0 };
    this.post({ kind: 'fenced', token });
  }

  /** Starts the stamps and the worker; resolves once its first round gave the role. */
  async start(): Promise<void> {
    this.stamp();
    this.stamper = setInterval(() => this.stamp(), LIVENESS_STAMP_MS);
    this.stamper.unref();
    await this.spawn(true);
  }

  /**
   * Gives up the lease of term `token` and sits out one ttl (that term's active parts failed to
   * start); a term that already ended is left alone, so a failure queued from an older term never
   * releases a lease just taken again.
   */
  async resign(reason: string, token: number): Promise<void> {
    if (this.current.role !== 'active' || this.current.token !== token) return;
    this.current = { ...this.current, role: 'standby', token: 0 };
    await this.ask((id) => ({ kind: 'resign', id, reason, token }));
  }

  /** Stops the stamps and the worker; the worker releases the lease first when it holds it. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.stamper);
    clearTimeout(this.respawn);
    const worker = this.worker;
    if (worker === undefined) return;
    // The worker's round may take up to a ttl (a slow database); past that the release is not waited for (the lease lapses by itself).
    await Promise.race([this.ask((id) => ({ kind: 'close', id })), new Promise((r) => setTimeout(r, this.options.ttlMs + 1000).unref())]);
    this.current = { ...this.current, role: 'standby', token: 0 };
    await worker.terminate();
    this.worker = undefined;
  }

  private stamp(): void {
    const now = monotonicMs();
    const gapMs = now - this.lastStampMs;
    // A stall the lease outlived (it would have cost the lease when the rounds ran here): logged, so operators see how long their stalls are.
    if (this.lastStampMs > 0 && gapMs > this.options.ttlMs) this.options.onLog(`lease: the main thread did not run for ${gapMs} ms (longer than the lease's ttl, ${this.options.ttlMs} ms; ha.stallSeconds is ${this.options.stallMs / 1000} s)`);
    this.lastStampMs = now;
    this.shared.stamp(now);
  }

  /** Starts a worker; `first`: the gateway's start waits for its first round (a later one announces its role by events). */
  private spawn(first: boolean): Promise<void> {
    // A worker started after one died sits out two rounds: the lease the dead one held lapsed about when
    // this one starts, and a standby that was watching should take it rather than race this one for it.
    const holdOffMs = first ? 0 : 2 * leaseRoundMs(this.options.ttlMs);
    const data: LeaseWorkerData = { databaseUrl: this.options.databaseUrl, claim: this.options.claim, ttlMs: this.options.ttlMs, stallMs: this.options.stallMs, holdOffMs, shared: this.shared.buffer };
    const worker = new Worker(new URL('./lease-worker.js', import.meta.url), { workerData: data, name: 'hypha-lease' });
    this.worker = worker;
    this.backoff.started();
    return new Promise<void>((resolve, reject) => {
      let started = false;
      worker.on('message', (message: FromLeaseWorker) => {
        if (message.kind === 'started') {
          started = true;
          this.current = message.view;
          resolve();
        } else this.onMessage(message);
      });
      worker.on('error', (err) => this.options.onLog(`lease: the lease worker failed: ${err.message}`));
      worker.on('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        for (const done of this.waiting.values()) done();
        this.waiting.clear();
        if (first && !started) reject(new Error(`lease: the lease worker stopped (exit code ${code}) before its first round`));
        else if (!this.closing) this.workerDied(code);
      });
    });
  }

  private onMessage(message: FromLeaseWorker): void {
    if (message.kind === 'log') return this.options.onLog(message.message);
    if (message.kind === 'done') {
      this.waiting.get(message.id)?.();
      this.waiting.delete(message.id);
      return;
    }
    if (message.kind !== 'view') return;
    this.current = message.view;
    const e = message.event;
    if (e?.name === 'active') this.signals.emit('active', e.token);
    else if (e?.name === 'standby') this.signals.emit('standby', e.reason, e.activeUrl);
    else if (e?.name === 'outage') this.signals.emit('outage', e.message);
  }

  /**
   * The worker ended without being asked (a crash, or terminated): nothing renews the lease now, so
   * the gateway stands down at once rather than serve without one, before any wait. A new worker
   * starts one ttl later, when the lease this one held has lapsed, and sits out two rounds so a
   * standby takes that lease first; then the gateway takes part again, and a lease it takes is a new
   * term (state reloaded). Workers that keep dying young are started
   * less and less often (RespawnBackoff), so a crash loop does not spin up a thread and a database
   * connection every ttl.
   */
  private workerDied(code: number): void {
    this.current = STANDBY;
    const waitMs = this.backoff.died();
    this.options.onLog(`lease: the lease worker stopped (exit code ${code}): standing down; a new one starts in ${waitMs} ms`);
    this.signals.emit('standby', `the lease worker stopped (exit code ${code})`, undefined);
    this.respawn = setTimeout(() => {
      // A new worker that dies too comes back here.
      if (!this.closing) void this.spawn(false);
    }, waitMs);
  }

  private post(message: ToLeaseWorker): void {
    this.worker?.postMessage(message);
  }

  private ask(make: (id: number) => ToLeaseWorker): Promise<void> {
    if (this.worker === undefined) return Promise.resolve();
    const id = this.nextId++;
    return new Promise<void>((resolve) => {
      this.waiting.set(id, resolve);
      this.post(make(id));
    });
  }
}
