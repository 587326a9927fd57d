// One active lab deployment record for unit tests, with any field overridden: the tests say only what they vary.
import type { DeploymentRecord } from '../../src/gateway/store/records.js';

/** An active `small` VM (0.05 SPORE an hour) on `node-1`, created and activated at `atMs`. */
export function deploymentRecord(id: string, over: Partial<DeploymentRecord> = {}, atMs = 0): DeploymentRecord {
  return {
    id,
    order: `ord_${id}`,
    customer: 'uhCAkcustomer',
    offer: 'small',
    name: id,
    pricePerHour: '0.050000',
    unit: 'SPORE',
    sshKeys: [],
    provisioner: 'agent',
    node: 'node-1',
    farmer: 'uhCAkfarmer',
    myceliumIp: '4a1::ff0f:1',
    vmRef: {},
    state: 'active',
    createdAtMs: atMs,
    activatedAtMs: atMs,
    ...over,
  };
}
