// GraceTransitions with a FakeTable of deployments: a deployment the customer cancels while the run waits on another one (pausing its VM) stays cancelled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraceTransitions } from '../../src/gateway/billing/grace-transitions.js';
import type { DeploymentRecord, EndReason } from '../../src/gateway/store/records.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { FakeTable } from '../helpers/fake-table.js';
import { deploymentRecord } from '../helpers/deployment-record.js';

const HOUR_MS = 3_600_000;

test('a deployment cancelled while the run pauses another VM is not put back in grace', async () => {
  const clock = new FakeClock();
  const deployments = new FakeTable<DeploymentRecord>();
  await deployments.put('d1', deploymentRecord('d1', {}, clock.nowMs()));
  await deployments.put('d2', deploymentRecord('d2', {}, clock.nowMs()));
  // The customer's cancel, as DeploymentService.end writes it (src/gateway/deployments/deployment-service.ts).
  const cancel = async (id: string): Promise<void> => {
    const d = deployments.get(id) as DeploymentRecord;
    await deployments.put(id, { ...d, state: 'deprovisioned', endedAtMs: clock.nowMs(), endReason: 'cancelled', destroyed: false });
  };
  const ended: { id: string; reason: EndReason }[] = [];
  const grace = new GraceTransitions({
    clock,
    deployments,
    events: new FakeEventSink(),
    policy: { farmerShareBps: 9000, graceMs: 24 * HOUR_MS, pauseInGrace: true, periodMs: HOUR_MS },
    // Both owe: both enter grace, unless one has ended meanwhile.
    receipts: { arrearsOfDeployment: () => 1_000n },
    lifecycle: {
      // Pausing d1's VM is a command to its agent (seconds on a loaded host); the customer cancels d2 meanwhile.
      setPaused: async (d) => {
        if (d.id === 'd1') await cancel('d2');
        return true;
      },
      end: (d, reason) => {
        ended.push({ id: d.id, reason });
        return Promise.resolve(d);
      },
    },
  });
  await grace.run();
  assert.equal(deployments.get('d1')?.state, 'grace', 'd1 entered grace');
  const d2 = deployments.get('d2');
  assert.equal(d2?.state, 'deprovisioned', `the cancelled d2 stays cancelled, not ${d2?.state ?? 'gone'}`);
  assert.equal(d2?.endReason, 'cancelled');
  assert.deepEqual(ended, []);
});
