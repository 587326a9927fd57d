// A close's receipt bodies hashed, and its Merkle tree built, in a worker thread while the main thread issues the next ones; in the thread itself for a small close or when no worker can run.
import { Worker } from 'node:worker_threads';
import { errorMessage } from '../../identity/error-message.js';
import { CloseHashing } from './close-hashing.js';
import type { FromCloseHasher, ToCloseHasher } from './close-hasher-protocol.js';

/** Where a run's hashes go as they come: body `firstIndex` on, 32 bytes each. */
export type HashSink = (firstIndex: number, hashes: Uint8Array) => void;

/** One close's hashing, as PeriodIssuer drives it. */
export interface CloseHashRun {
  /**
   * Hashes bodies `firstIndex`, `firstIndex + 1`, …: in `data` from `from` to each of `ends` in turn.
   * Their hashes reach the sink by `hashed()`. Bodies must be posted in issue order, each once;
   * `ends` is the caller's to give up (a run may keep it).
   */
  post(data: Buffer, from: number, ends: readonly number[], firstIndex: number): void;
  /** Resolves once the hash of every body posted so far has reached the sink. */
  hashed(): Promise<void>;
  /** The root of the tree over every body posted (RFC 9162, leaves in issue order); the run ends. */
  root(): Promise<Uint8Array>;
  /** Gives the run up (its close failed). */
  drop(): void;
}

/** Closes smaller than this are hashed in the thread: a worker's start and round trips are not worth it there. */
export const WORKER_MIN_BODIES = 4096;

/** A run hashed in the calling thread, at once. */
class InThreadRun implements CloseHashRun {
  private readonly hashing = new CloseHashing();

  constructor(private readonly sink: HashSink) {}

  post(data: Buffer, from: number, ends: readonly number[], firstIndex: number): void {
    this.sink(firstIndex, this.hashing.hashBodies(data, from, ends));
  }

  hashed(): Promise<void> {
    return Promise.resolve();
  }

  root(): Promise<Uint8Array> {
    return Promise.resolve(this.hashing.root());
  }

  drop(): void {}
}

/** A posted job, kept until the run ends so a worker that dies can be replaced by hashing them all again here. */
interface Job {
  readonly data: Buffer;
  readonly from: number;
  readonly ends: readonly number[];
  readonly firstIndex: number;
}

/** A job sent to the worker and not yet answered, with how to tell its waiter. */
interface Sent {
  readonly job: Job;
  readonly done: () => void;
}

/** A run whose jobs go to the worker; if the worker dies, every job of the run is hashed again here, in order. */
class WorkerRun implements CloseHashRun {
  private readonly jobs: Job[] = [];
  private readonly sent = new Map<number, Sent>();
  private outstanding: Array<Promise<void>> = [];
  private rootWaiter: { readonly resolve: (root: Uint8Array) => void; readonly reject: (err: Error) => void } | null = null;
  /** Set once the worker is gone: the run goes on here. */
  private local: CloseHashing | null = null;
  private failure: Error | null = null;
  /** Given up: a late answer must not reach the sink (its buffers may be another close's by then). */
  private dropped = false;

  constructor(
    private readonly hasher: CloseHasher,
    readonly close: number,
    private readonly sink: HashSink,
  ) {}

  post(data: Buffer, from: number, ends: readonly number[], firstIndex: number): void {
    if (ends.length === 0) return;
    if (!(data.buffer instanceof SharedArrayBuffer)) throw new TypeError('CloseHasher: a worker run hashes bodies in shared memory only');
    const job: Job = { data, from, ends, firstIndex };
    this.jobs.push(job);
    if (this.local) {
      this.sink(firstIndex, this.local.hashBodies(data, from, ends));
      return;
    }
    const id = this.hasher.nextId();
    this.outstanding.push(new Promise<void>((done) => this.sent.set(id, { job, done })));
    const base = data.byteOffset;
    this.hasher.send(id, this, { t: 'hash', id, close: this.close, data: data.buffer, from: base + from, ends: Float64Array.from(ends, (e) => base + e) });
  }

  async hashed(): Promise<void> {
    const all = this.outstanding;
    this.outstanding = [];
    await Promise.all(all);
    if (this.failure) throw this.failure;
  }

  async root(): Promise<Uint8Array> {
    try {
      await this.hashed();
      if (this.local) return this.local.root();
      const root = new Promise<Uint8Array>((resolve, reject) => (this.rootWaiter = { resolve, reject }));
      const id = this.hasher.nextId();
      this.hasher.send(id, this, { t: 'root', id, close: this.close });
      return await root;
    } finally {
      this.hasher.ended(this, false);
    }
  }

  drop(): void {
    this.dropped = true;
    this.hasher.ended(this, true);
  }

  /** The worker's answer to request `id` of this run. */
  answered(id: number, m: FromCloseHasher): void {
    if (this.dropped) return;
    if (m.t === 'root') {
      this.rootWaiter?.resolve(m.root);
      this.rootWaiter = null;
      return;
    }
    const sent = this.sent.get(id);
    this.sent.delete(id);
    if (m.t === 'hashed') {
      if (sent) this.sink(sent.job.firstIndex, m.hashes);
    } else {
      this.failure ??= new Error(`CloseHasher: ${m.message}`);
      this.rootWaiter?.reject(this.failure);
      this.rootWaiter = null;
    }
    sent?.done();
  }

  /** The worker is gone: every job is hashed again here, in order, and everything waited on is answered from that. */
  fallBack(): void {
    if (this.local || this.dropped) return;
    const local = new CloseHashing();
    this.local = local;
    try {
      for (const j of this.jobs) this.sink(j.firstIndex, local.hashBodies(j.data, j.from, j.ends));
    } catch (err) {
      this.failure ??= new Error(`CloseHasher: ${errorMessage(err)}`);
    }
    for (const s of this.sent.values()) s.done();
    this.sent.clear();
    if (this.rootWaiter) {
      if (this.failure) this.rootWaiter.reject(this.failure);
      else this.rootWaiter.resolve(local.root());
      this.rootWaiter = null;
    }
  }
}

/**
 * bench/billing at 100k: hashing the bodies (~0.3 s) and building the tree (~0.3 s) were an
 * eighth of the close, all on the main thread. Here a worker thread does both while the main
 * thread goes on issuing: the bodies lie in shared memory, so a job names a range, not a copy.
 * One worker serves the process (started at its first big close, held only while it has work,
 * so it never keeps the process alive); if it dies, each open run is hashed again in the thread
 * and later runs stay there.
 */
export class CloseHasher {
  private worker: Worker | undefined;
  private broken = false;
  private ids = 1;
  private closes = 1;
  /** Requests in flight, by id, with the run to answer. */
  private readonly inFlight = new Map<number, WorkerRun>();
  private readonly runs = new Set<WorkerRun>();

  /** `workerMin`: bodies a close must have to be hashed in the worker (tests give 0). */
  constructor(private readonly workerMin = WORKER_MIN_BODIES) {}

  /** Begins a close of about `bodies` bodies, whose hashes go to `sink`. */
  begin(bodies: number, sink: HashSink): CloseHashRun {
    if (bodies < this.workerMin || !this.ensureWorker()) return new InThreadRun(sink);
    const run = new WorkerRun(this, this.closes++, sink);
    this.runs.add(run);
    return run;
  }

  /** Whether a worker is running now (it starts at the first close of at least `workerMin` bodies). */
  get workerRunning(): boolean {
    return this.worker !== undefined;
  }

  /** Ends the worker as if it had died (tests: the fall back). */
  async killWorkerForTest(): Promise<void> {
    await this.worker?.terminate();
  }

  nextId(): number {
    return this.ids++;
  }

  send(id: number, run: WorkerRun, message: ToCloseHasher): void {
    const worker = this.worker;
    if (!worker) {
      run.fallBack();
      return;
    }
    if (this.inFlight.size === 0) worker.ref();
    this.inFlight.set(id, run);
    worker.postMessage(message);
  }

  ended(run: WorkerRun, dropped: boolean): void {
    if (!this.runs.delete(run)) return;
    if (dropped) this.worker?.postMessage({ t: 'drop', close: run.close } satisfies ToCloseHasher);
  }

  private ensureWorker(): boolean {
    if (this.worker) return true;
    if (this.broken) return false;
    try {
      const worker = new Worker(new URL('./close-hasher-worker.js', import.meta.url), { name: 'hypha-close-hasher' });
      worker.unref();
      worker.on('message', (m: FromCloseHasher) => {
        const run = this.inFlight.get(m.id);
        this.inFlight.delete(m.id);
        if (this.inFlight.size === 0) worker.unref();
        run?.answered(m.id, m);
      });
      // An error ends the worker; 'exit' follows and does the rest.
      worker.on('error', () => undefined);
      worker.on('exit', () => {
        if (this.worker !== worker) return;
        this.broken = true;
        this.lost();
      });
      this.worker = worker;
      return true;
    } catch {
      this.broken = true;
      return false;
    }
  }

  /** The worker is gone: nothing more is sent to it, and every open run goes on in the thread. */
  private lost(): void {
    this.worker = undefined;
    this.inFlight.clear();
    for (const run of this.runs) run.fallBack();
  }
}

let shared: CloseHasher | undefined;

/** The process's close hasher (one worker for every billing service in it). */
export function sharedCloseHasher(): CloseHasher {
  shared ??= new CloseHasher();
  return shared;
}
