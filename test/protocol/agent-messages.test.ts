// The agent protocol's validators: good messages parse to exactly their fields; every bad one is refused with a ValidationError naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentMessage, parseGatewayMessage, MAX_NODES_PER_AGENT } from '../../src/protocol/agent-messages.js';
import { ValidationError } from '../../src/protocol/validate.js';

const HEAD = 'ab'.repeat(32);
const heartbeat = { type: 'heartbeat', seq: 7, atMs: 1_700_000_000_000, prev: HEAD, nodes: [{ id: 'node-1', up: true }], vms: [{ id: 'dep_1', reachable: true, rttMicros: 420 }] };

test('parseAgentMessage: a heartbeat parses to its fields, and unknown fields are dropped', () => {
  assert.deepEqual(parseAgentMessage(JSON.stringify({ ...heartbeat, extra: 'x' })), heartbeat);
});

test('parseAgentMessage: a result\'s VM address comes back in its normal form; "" (a VM that is gone) stays ""', () => {
  const m = parseAgentMessage(JSON.stringify({ type: 'result', id: 'c1', ok: true, vm: { id: 'v', myceliumIp: '4A1:0:0:0:FF0F::1', state: 'running' } }));
  assert.equal(m.type === 'result' ? m.vm?.myceliumIp : undefined, '4a1::ff0f:0:0:1');
  const gone = parseAgentMessage(JSON.stringify({ type: 'result', id: 'c1', ok: true, vm: { id: 'v', myceliumIp: '', state: 'gone' } }));
  assert.equal(gone.type === 'result' ? gone.vm?.myceliumIp : undefined, '');
});

test('parseAgentMessage: a hello without capacities means a node that runs no VMs', () => {
  const m = parseAgentMessage(JSON.stringify({ type: 'hello', agent: 'uhCAkx', nodes: [{ id: 'n1' }], signature: 'c2ln' }));
  assert.deepEqual(m, { type: 'hello', agent: 'uhCAkx', nodes: [{ id: 'n1', capacity: { cpu: 0, memoryGb: 0, diskGb: 0 } }], signature: 'c2ln' });
});

const badAgentMessages: Array<[string, string, string]> = [
  ['not JSON', '{"type":', 'message'],
  ['an array', '[]', 'message'],
  ['null', 'null', 'message'],
  ['no type', '{}', 'type'],
  ['an unknown type', '{"type":"reboot"}', 'type'],
  ['a negative seq', JSON.stringify({ ...heartbeat, seq: -1 }), 'seq'],
  ['a fractional seq', JSON.stringify({ ...heartbeat, seq: 1.5 }), 'seq'],
  ['a seq as a string', JSON.stringify({ ...heartbeat, seq: '7' }), 'seq'],
  ['a prev that is not 64 hex digits', JSON.stringify({ ...heartbeat, prev: 'AB'.repeat(32) }), 'prev'],
  ['a node id with a slash', JSON.stringify({ ...heartbeat, nodes: [{ id: 'a/b', up: true }] }), 'nodes[0].id'],
  ['a node whose up is a string', JSON.stringify({ ...heartbeat, nodes: [{ id: 'n', up: 'yes' }] }), 'nodes[0].up'],
  ['a VM with a negative round trip', JSON.stringify({ ...heartbeat, vms: [{ id: 'v', reachable: true, rttMicros: -1 }] }), 'vms[0].rttMicros'],
  ['vms that is not an array', JSON.stringify({ ...heartbeat, vms: {} }), 'vms'],
  ['a hello with no nodes', JSON.stringify({ type: 'hello', agent: 'uhCAkx', nodes: [], signature: 's' }), 'nodes'],
  ['a hello with too many nodes', JSON.stringify({ type: 'hello', agent: 'uhCAkx', nodes: Array.from({ length: MAX_NODES_PER_AGENT + 1 }, (_, i) => ({ id: `n${i}` })), signature: 's' }), 'nodes'],
  ['a hello with a negative cpu', JSON.stringify({ type: 'hello', agent: 'uhCAkx', nodes: [{ id: 'n', capacity: { cpu: -1, memoryGb: 1, diskGb: 1 } }], signature: 's' }), 'nodes[0].capacity.cpu'],
  ['a chain head without a signature', JSON.stringify({ type: 'chain-head', periodStartMs: 0, periodEndMs: 1, seq: 1, head: HEAD }), 'signature'],
  ['a result whose vm has no address', JSON.stringify({ type: 'result', id: 'c1', ok: true, vm: { id: 'v', state: 'running' } }), 'vm.myceliumIp'],
  ['a result whose vm address is IPv4', JSON.stringify({ type: 'result', id: 'c1', ok: true, vm: { id: 'v', myceliumIp: '8.8.8.8', state: 'running' } }), 'vm.myceliumIp'],
  ['a result whose vm address is outside 400::/7', JSON.stringify({ type: 'result', id: 'c1', ok: true, vm: { id: 'v', myceliumIp: '2001:db8::1', state: 'running' } }), 'vm.myceliumIp'],
  ['a result whose vm address is IPv4-mapped', JSON.stringify({ type: 'result', id: 'c1', ok: true, vm: { id: 'v', myceliumIp: '::ffff:10.0.0.1', state: 'running' } }), 'vm.myceliumIp'],
  ['a result whose vm address is a host name', JSON.stringify({ type: 'result', id: 'c1', ok: true, vm: { id: 'v', myceliumIp: 'evil.example', state: 'running' } }), 'vm.myceliumIp'],
  ['a countersigned with a bad receipt id', JSON.stringify({ type: 'countersigned', receiptId: '', signature: 's' }), 'receiptId'],
];

for (const [what, text, field] of badAgentMessages) {
  test(`parseAgentMessage refuses ${what} (field ${field})`, () => {
    assert.throws(
      () => parseAgentMessage(text),
      (err: unknown) => err instanceof ValidationError && err.field === field,
    );
  });
}

test('parseGatewayMessage: a command parses; an unknown op and a bad seed are refused by field', () => {
  const command = { type: 'command', id: 'c1', op: 'deploy', vm: { id: 'dep_1', node: 'n1', sshKeys: ['ssh-ed25519 AAAA'], seedHex: '0a0b0c0d0e0f' } };
  assert.deepEqual(parseGatewayMessage(JSON.stringify(command)), command);
  for (const [bad, field] of [
    [{ ...command, op: 'format-disk' }, 'op'],
    [{ ...command, vm: { ...command.vm, seedHex: 'xyz' } }, 'vm.seedHex'],
    [{ ...command, vm: { ...command.vm, sshKeys: 'ssh-ed25519 AAAA' } }, 'vm.sshKeys'],
    [{ type: 'vms', vms: [{ id: 'v', node: 'n', myceliumIp: '4a1::1', port: 70000 }] }, 'vms[0].port'],
    [{ type: 'ack' }, 'seq'],
  ] as const) {
    assert.throws(
      () => parseGatewayMessage(JSON.stringify(bad)),
      (err: unknown) => err instanceof ValidationError && err.field === field,
      JSON.stringify(bad),
    );
  }
});
