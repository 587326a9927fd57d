// A BillingService for unit tests of settling and paying: the test's receipt log and ledger, everything else quiet (no deployments, no agents, no escrow).
import { pino } from 'pino';
import { sign } from '../../src/identity/index.js';
import type { BillingDeps, BillingPolicy } from '../../src/gateway/billing/billing-deps.js';
import { BillingService } from '../../src/gateway/billing/billing-service.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';
import { UptimeBook } from '../../src/gateway/uptime/uptime-book.js';
import { FakeClock } from './fake-clock.js';
import { FakeEventSink } from './fake-event-sink.js';
import { FakeTable } from './fake-table.js';
import { actors, HOUR, T0 } from './receipts.js';

/** The policy tests assume unless they say otherwise: 90% to the farmer, 72 h of grace with pausing, hourly periods. */
export const TEST_POLICY: BillingPolicy = { farmerShareBps: 9000, graceMs: 72 * HOUR, pauseInGrace: true, periodMs: HOUR };

/** What a test must give (the log and the ledger) and what it may change; `nowMs` sets the fake clock (default an hour and a minute after T0). */
export type TestBillingOptions = Pick<BillingDeps, 'receipts' | 'ledger'> & Partial<Omit<BillingDeps, 'policy'>> & { readonly nowMs?: number; readonly policy?: Partial<BillingPolicy> };

/** Billing signed by the receipts helper's gateway key, over an empty deployment table and a silent log. */
export function testBilling(options: TestBillingOptions): BillingService {
  const { nowMs, policy, ...deps } = options;
  return new BillingService({
    clock: new FakeClock(nowMs ?? T0 + HOUR + 60_000),
    gateway: { agent: actors.gateway.agent, sign: (m) => sign(actors.gateway.secretKey, m) },
    deployments: new FakeTable<DeploymentRecord>(),
    uptime: new UptimeBook(15_000, HOUR),
    lifecycle: { setPaused: () => Promise.resolve(false), end: (d) => Promise.resolve(d) },
    agents: { agentHead: () => null, requestCountersign: () => undefined, verifyCountersignature: () => false, requestBatchCountersign: () => undefined },
    events: new FakeEventSink(),
    log: pino({ level: 'silent' }),
    ...deps,
    policy: { ...TEST_POLICY, ...policy },
  });
}
