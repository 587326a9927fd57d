// The lease worker thread: keeps (or waits for) the active lease on its own connection and event loop, renewing only while the gateway's main thread stamps that it runs.
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../../identity/error-message.js';
import { LeaseKeeper } from './lease-keeper.js';
import { leaseRoundMs } from './lease-rules.js';
import { LeaseSharedState, MonotonicClock } from './lease-shared-state.js';
import type { FromLeaseWorker, LeaseEventMessage, LeaseView, LeaseWorkerData, ToLeaseWorker } from './lease-worker-protocol.js';
import { PgLeaseStore } from './pg-lease-store.js';

if (parentPort === null) throw new Error('lease-worker: runs only as a worker thread (src/gateway/ha/worker-lease.ts starts it)');
const port = parentPort;
const data = workerData as LeaseWorkerData;
const shared = new LeaseSharedState(data.shared);
const clock = new MonotonicClock();
const post = (message: FromLeaseWorker): void => port.postMessage(message);

const keeper = new LeaseKeeper({
  // A round may take up to the ttl (a loaded host answers late, and a renewal asked in time is still
  // valid); the row lock is waited for one round at most, so a lapsed holder's open writes are seen.
  store: new PgLeaseStore({ url: data.databaseUrl, timeoutMs: data.ttlMs, lockTimeoutMs: leaseRoundMs(data.ttlMs), holder: data.claim.holder }),
  claim: data.claim,
  ttlMs: data.ttlMs,
  clock,
  onLog: (message) => post({ kind: 'log', message }),
  liveness: { silentMs: () => shared.silentMs(clock.nowMs()), stallMs: data.stallMs },
  holdOffMs: data.holdOffMs,
});

/** The view of what `held` says is held: one read of keeper.holding() gives both the shared memory and the view, so the two never disagree. */
function viewOf(held: ReturnType<LeaseKeeper['holding']>): LeaseView {
  return { role: held ? 'active' : 'standby', token: held?.token ?? 0, activeUrl: keeper.activeUrl(), outage: keeper.outage() };
}

let lastSent = '';
/** Publishes what is held to the shared memory at once (writes check it), then tells the main thread when anything changed; returns the view published. */
function report(event?: LeaseEventMessage): LeaseView {
  const held = keeper.holding();
  shared.publish(held?.token ?? 0, held?.validUntilMs ?? 0);
  const v = viewOf(held);
  const text = JSON.stringify(v);
  if (event === undefined && text === lastSent) return v;
  lastSent = text;
  post({ kind: 'view', view: v, ...(event !== undefined ? { event } : {}) });
  return v;
}

keeper.signals.on('active', (token) => report({ name: 'active', token }));
keeper.signals.on('standby', (reason, activeUrl) => report({ name: 'standby', reason, activeUrl }));
keeper.signals.on('outage', (message) => report({ name: 'outage', message }));

let closed = false;
let timer: NodeJS.Timeout | undefined;
/** A round every ttl/3 (sooner after a late answer: keeper.nextRoundInMs) on this thread's own event loop, which the main thread's work never blocks. */
function loop(): void {
  timer = setTimeout(() => {
    void keeper.round().then(() => {
      report();
      if (!closed) loop();
    });
  }, clock.toRealMs(keeper.nextRoundInMs()));
}

port.on('message', (message: ToLeaseWorker) => {
  if (message.kind === 'fenced') keeper.fenced(message.token);
  else if (message.kind === 'resign') void keeper.resign(message.reason, message.token).then(() => post({ kind: 'done', id: message.id }));
  else {
    closed = true;
    clearTimeout(timer);
    void keeper
      .close()
      .catch((err: unknown) => post({ kind: 'log', message: `lease.close: ${errorMessage(err)}` }))
      .then(() => {
        shared.publish(0, 0);
        post({ kind: 'done', id: message.id });
      });
  }
});

await keeper.round();
post({ kind: 'started', view: report() });
if (!closed) loop();
