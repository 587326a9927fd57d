// readHeartbeatFrame against the full reader: what it accepts, parseAgentMessage accepts with the same result, and its head is chainNext's; it accepts the agents' own frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cryptoPrimitives, usePrimitives } from '../../src/identity/index.js';
import { sodiumPrimitives } from '../../src/identity/libsodium.js';
import { parseAgentMessage, type HeartbeatMessage } from '../../src/protocol/agent-messages.js';
import { readHeartbeatFrame } from '../../src/protocol/heartbeat-frame.js';
import { chainNext, GENESIS_HEAD } from '../../src/protocol/heartbeat.js';

/** What the full reader makes of a frame: the message, or 'refused'. */
function fullRead(text: string): HeartbeatMessage | 'refused' | 'other' {
  try {
    const m = parseAgentMessage(text);
    return m.type === 'heartbeat' ? m : 'other';
  } catch {
    return 'refused';
  }
}

/**
 * The property: whatever readHeartbeatFrame accepts, the full reader accepts as the same
 * heartbeat, and the head is chainNext's over it. Returns whether the fast reader accepted.
 */
function agrees(text: string): boolean {
  const fast = readHeartbeatFrame(Buffer.from(text, 'utf8'));
  if (fast === undefined) return false;
  const full = fullRead(text);
  assert.notEqual(full, 'refused', `the fast reader accepted a frame the full reader refuses: ${text}`);
  assert.notEqual(full, 'other');
  assert.deepStrictEqual(fast.message, full, text);
  assert.equal(fast.head, chainNext((full as HeartbeatMessage).prev, full as HeartbeatMessage), text);
  return true;
}

const idChars = 'abcXYZ019._:-';
const validId = fc.string({ unit: fc.constantFrom(...idChars), minLength: 0, maxLength: 63 }).chain((tail) => fc.constantFrom('a', 'Z', '7').map((h) => h + tail));
const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
/** A heartbeat as the agent builds it (src/agent/agent.ts: rttMicros only when the probe answered). */
const agentHeartbeat = fc.record({
  seq: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER), fc.constant(0)),
  atMs: fc.oneof(fc.nat(), fc.constant(8.64e15), fc.integer({ min: 1.7e12, max: 1.9e12 })),
  prev: fc.oneof(hex64, fc.constant(GENESIS_HEAD)),
  nodes: fc.array(fc.record({ id: validId, up: fc.boolean() }), { maxLength: 6 }),
  vms: fc.array(fc.oneof(fc.record({ id: validId, reachable: fc.boolean() }), fc.record({ id: validId, reachable: fc.boolean(), rttMicros: fc.integer({ min: 0, max: 600_000_000 }) })), { maxLength: 6 }),
});
/** The frame an agent sends: JSON.stringify in the agent's key order. */
const frameOf = (h: { seq: number; atMs: number; prev: string; nodes: unknown; vms: unknown }): string => JSON.stringify({ type: 'heartbeat', seq: h.seq, atMs: h.atMs, prev: h.prev, nodes: h.nodes, vms: h.vms });

test('every frame in the agents\' form is read by the fast reader, as the full reader reads it, with chainNext\'s head', () => {
  fc.assert(
    fc.property(agentHeartbeat, (h) => {
      assert.equal(agrees(frameOf(h)), true, 'the fast reader fell back on an agent\'s frame');
    }),
    { numRuns: 3000 },
  );
});

/** Pieces a mutation inserts or substitutes: JSON's syntax, spellings of numbers, and characters ids and heads must not hold. */
const fragments = fc.constantFrom(' ', '\n', '"', ',', ':', '{', '}', '[', ']', '0', '00', '-', '-0', '1e3', '.5', 'E', '\\', '\\u0061', 'é', '\u2028', 'A', 'F', 'g', '/', 'x'.repeat(70), 'true', 'false', 'null', '"x":1', '9007199254740992', '8640000000000001', '600000001', '\ud800');
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fragments }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }), text: fragments }),
);
type Mutation = { kind: 'delete'; at: number; length: number } | { kind: 'insert'; at: number; text: string } | { kind: 'replace'; at: number; length: number; text: string };
function mutate(text: string, m: Mutation): string {
  const at = m.at % (text.length + 1);
  if (m.kind === 'delete') return text.slice(0, at) + text.slice(at + m.length);
  if (m.kind === 'insert') return text.slice(0, at) + m.text + text.slice(at);
  return text.slice(0, at) + m.text + text.slice(at + m.length);
}

test('on mutated agent frames the fast reader accepts nothing the full reader refuses, and reads what it accepts the same', () => {
  let accepted = 0;
  let refusedByFull = 0;
  fc.assert(
    fc.property(agentHeartbeat, fc.array(mutation, { minLength: 1, maxLength: 3 }), (h, ms) => {
      const text = ms.reduce(mutate, frameOf(h));
      if (agrees(text)) accepted++;
      else if (fullRead(text) === 'refused') refusedByFull++;
    }),
    { numRuns: 20_000 },
  );
  // Both outcomes occur, so the property was tested on each side.
  assert.ok(accepted > 100, `fast reader accepted ${accepted} mutated frames`);
  assert.ok(refusedByFull > 1000, `full reader refused ${refusedByFull} mutated frames`);
});

test('on other JSON and random bytes the fast reader accepts nothing the full reader refuses', () => {
  fc.assert(
    fc.property(fc.oneof(fc.json(), fc.string(), fc.record({ type: fc.constant('heartbeat'), seq: fc.jsonValue(), atMs: fc.jsonValue(), prev: fc.jsonValue(), nodes: fc.jsonValue(), vms: fc.jsonValue() }).map((o) => JSON.stringify(o))), (text) => {
      agrees(text);
    }),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const fast = readHeartbeatFrame(Buffer.from(bytes));
      if (fast !== undefined) agrees(Buffer.from(bytes).toString('utf8'));
    }),
    { numRuns: 2000 },
  );
});

const base = { seq: 5, atMs: 1_800_000_000_000, prev: 'ab'.repeat(32), nodes: [{ id: 'n1', up: true }], vms: [{ id: 'v1', reachable: true, rttMicros: 10 }, { id: 'v2', reachable: false }] };

test('the limits\' edges: the largest values and sizes are read, one past them falls to the full reader, which refuses them', () => {
  const cases: Array<[string, Record<string, unknown>, boolean]> = [
    ['seq MAX_SAFE_INTEGER', { seq: Number.MAX_SAFE_INTEGER }, true],
    ['seq 2^53', { seq: 2 ** 53 }, false],
    ['seq 0', { seq: 0 }, true],
    ['atMs 8.64e15', { atMs: 8.64e15 }, true],
    ['atMs 8.64e15 + 1', { atMs: 8.64e15 + 1 }, false],
    ['rttMicros 600,000,000', { vms: [{ id: 'v', reachable: true, rttMicros: 600_000_000 }] }, true],
    ['rttMicros 600,000,001', { vms: [{ id: 'v', reachable: true, rttMicros: 600_000_001 }] }, false],
    ['64 nodes', { nodes: Array.from({ length: 64 }, (_, i) => ({ id: `n${i}`, up: true })) }, true],
    ['65 nodes', { nodes: Array.from({ length: 65 }, (_, i) => ({ id: `n${i}`, up: true })) }, false],
    ['4,096 VMs', { vms: Array.from({ length: 4096 }, (_, i) => ({ id: `v${i}`, reachable: true })) }, true],
    ['4,097 VMs', { vms: Array.from({ length: 4097 }, (_, i) => ({ id: `v${i}`, reachable: true })) }, false],
    ['a 64-character id', { nodes: [{ id: 'a'.repeat(64), up: true }] }, true],
    ['a 65-character id', { nodes: [{ id: 'a'.repeat(65), up: true }] }, false],
    ['an id starting with "-"', { nodes: [{ id: '-a', up: true }] }, false],
    ['an empty id', { vms: [{ id: '', reachable: true }] }, false],
    ['an upper-case prev', { prev: 'AB'.repeat(32) }, false],
    ['a 63-byte prev', { prev: 'ab'.repeat(31) + 'a' }, false],
    ['no nodes, no VMs', { nodes: [], vms: [] }, true],
  ];
  for (const [name, change, ok] of cases) {
    const text = frameOf({ ...base, ...change });
    assert.equal(fullRead(text) !== 'refused', ok, `${name}: the full reader`);
    assert.equal(agrees(text), ok, `${name}: the fast reader`);
  }
});

test('valid heartbeats in another form fall to the full reader (spaces, key order, extra keys, escapes), which reads them', () => {
  const forms = [
    JSON.stringify({ type: 'heartbeat', seq: 5, atMs: 7, prev: base.prev, nodes: base.nodes, vms: base.vms }, null, 1),
    JSON.stringify({ seq: 5, type: 'heartbeat', atMs: 7, prev: base.prev, nodes: base.nodes, vms: base.vms }),
    JSON.stringify({ type: 'heartbeat', seq: 5, atMs: 7, prev: base.prev, nodes: [{ up: true, id: 'n1' }], vms: [] }),
    JSON.stringify({ type: 'heartbeat', seq: 5, atMs: 7, prev: base.prev, nodes: [{ id: 'n1', up: true, extra: 1 }], vms: [] }),
    JSON.stringify({ type: 'heartbeat', seq: 5, atMs: 7, prev: base.prev, nodes: [], vms: [], extra: 1 }),
    frameOf(base).replace('"n1"', '"\\u006e1"'),
    frameOf(base).replace('"seq":5', '"seq":5.0'),
    frameOf(base) + '\n',
  ];
  for (const text of forms) {
    assert.equal(readHeartbeatFrame(Buffer.from(text)), undefined, text);
    assert.equal(typeof fullRead(text), 'object', `the full reader reads ${text}`);
  }
});

test('the head is the same on libsodium (as the gateway runs) as on the portable primitives', () => {
  const text = frameOf(base);
  const portable = readHeartbeatFrame(Buffer.from(text))?.head;
  const before = cryptoPrimitives();
  usePrimitives(sodiumPrimitives);
  try {
    const read = readHeartbeatFrame(Buffer.from(text));
    assert.equal(read?.head, portable);
    assert.equal(read?.head, chainNext(base.prev, base));
  } finally {
    usePrimitives(before);
  }
});
