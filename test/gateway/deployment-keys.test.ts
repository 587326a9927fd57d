// Replacing a VM's SSH keys is held to the same byte budget as an order's keys, and a refusal reaches neither the node nor the record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { DeploymentService } from '../../src/gateway/deployments/deployment-service.js';
import { PublicError } from '../../src/gateway/http/public-error.js';
import type { Provisioner, VmHandle } from '../../src/gateway/provision/provisioner.js';
import type { DeploymentRecord } from '../../src/gateway/store/records.js';
import { deploymentRecord } from '../helpers/deployment-record.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeEventSink } from '../helpers/fake-event-sink.js';
import { FakeTable } from '../helpers/fake-table.js';
import { readVectors } from '../helpers/paths.js';

const keys = readVectors<{ accepted: { line: string }[] }>('ssh-keys.json').accepted.map((k) => k.line);

/** Only setSshKeys is reached by this test; the rest of the Provisioner port refuses loudly. */
function recordingProvisioner(calls: string[][]): Provisioner {
  const never = (): Promise<never> => Promise.reject(new Error('not used by this test'));
  return {
    kind: 'agent',
    candidateNodes: never,
    deploy: never,
    pause: never,
    resume: never,
    destroy: never,
    status: never,
    setSshKeys: (_vm: VmHandle, sshKeys: readonly string[]) => {
      calls.push([...sshKeys]);
      return Promise.resolve();
    },
  };
}

test('PUT ssh-keys: over orders.maxSshKeyBytes is a 413 naming sshKeys; under it the keys reach the node and the record', async () => {
  const table = new FakeTable<DeploymentRecord>();
  const d = deploymentRecord('dep_1', { customer: 'uhCAkalice', sshKeys: [keys[0] as string] });
  await table.put(d.id, d);
  const calls: string[][] = [];
  const events = new FakeEventSink();
  const budget = Buffer.byteLength(keys[0] as string) + 10;
  const service = new DeploymentService({
    clock: new FakeClock(),
    deployments: table,
    provisioner: recordingProvisioner(calls),
    events,
    log: pino({ level: 'silent' }),
    totals: () => ({ upSeconds: 0, chargedMicros: 0n, arrearsMicros: 0n }),
    onPlacementChanged: () => undefined,
    maxSshKeyBytes: budget,
  });

  const many = keys.slice(0, 3);
  await assert.rejects(service.setSshKeys('uhCAkalice', 'dep_1', { sshKeys: many }), (e: unknown) => {
    assert.ok(e instanceof PublicError);
    assert.equal(e.code, 'payload_too_large');
    assert.equal(e.extra.field, 'sshKeys');
    assert.equal(e.extra.limit, 'orders.maxSshKeyBytes');
    return true;
  });
  assert.deepEqual(calls, [], 'the node was not asked');
  assert.deepEqual(table.get('dep_1')?.sshKeys, [keys[0]], 'the record is unchanged');

  const next = keys[1] as string;
  assert.ok(Buffer.byteLength(next) <= budget, 'the vector key fits the budget');
  await service.setSshKeys('uhCAkalice', 'dep_1', { sshKeys: [next] });
  assert.deepEqual(calls, [[next]]);
  assert.deepEqual(table.get('dep_1')?.sshKeys, [next]);
  assert.deepEqual(events.names(), ['deployment.ssh_keys']);
});
