// The heartbeat fast paths give what the full paths give: readHeartbeatFast accepts exactly the messages readHeartbeatChecked accepts, and heartbeatBodyBytes is canonicalJsonBytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { blake2bChained, canonicalJsonBytes, toHex } from '../../src/identity/index.js';
import { HEARTBEAT_LIMITS, readHeartbeatChecked } from '../../src/protocol/agent-messages.js';
import { readHeartbeatFast } from '../../src/protocol/heartbeat-fast-parse.js';
import { chainNext, GENESIS_HEAD, heartbeatBodyBytes, type Heartbeat } from '../../src/protocol/heartbeat.js';

/** Values that are valid for some fields and wrong for others: the checks' edges. */
const anyScalar = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 1.5, 600_000_000, 600_000_001, 8.64e15, 8.64e15 + 1, Number.MAX_SAFE_INTEGER, 2 ** 53, NaN, null, true, false, '', '7', 'n'),
  fc.constantFrom('node-1', 'a/b', 'x'.repeat(64), 'x'.repeat(65), 'vm.1:a-b_c', '-lead', '\ud800', 'é'),
  fc.integer(),
);
const id = fc.oneof(fc.constantFrom('node-1', 'dep_1', 'a/b', '', 'x'.repeat(65), 'A.b:c-d_9'), anyScalar);
const bool = fc.oneof(fc.boolean(), anyScalar);
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 4 });
const node = fc.oneof(fc.record({ id, up: bool }), anyScalar, fc.constant([]));
const vm = fc.oneof(fc.record({ id, reachable: bool, rttMicros: maybe(anyScalar) }), fc.record({ id, reachable: bool }), anyScalar);
const head = fc.oneof(fc.constantFrom(GENESIS_HEAD, 'ab'.repeat(32), 'AB'.repeat(32), 'ab'.repeat(31)), anyScalar);
const message = fc.record({
  type: fc.constant('heartbeat'),
  seq: anyScalar,
  atMs: anyScalar,
  prev: head,
  nodes: fc.oneof(fc.array(node, { maxLength: 4 }), anyScalar, fc.constant(Array.from({ length: 65 }, (_, i) => ({ id: `n${i}`, up: true })))),
  vms: fc.oneof(fc.array(vm, { maxLength: 4 }), anyScalar),
});

test('readHeartbeatFast accepts exactly what readHeartbeatChecked accepts, and reads it the same', () => {
  fc.assert(
    fc.property(message, (m) => {
      // Through JSON, as the gateway gets it (drops undefined, turns -0 into 0 and NaN into null).
      const parsed = JSON.parse(JSON.stringify(m)) as Record<string, unknown>;
      let checked: unknown;
      try {
        checked = readHeartbeatChecked(parsed);
      } catch {
        checked = undefined;
      }
      assert.deepStrictEqual(readHeartbeatFast(parsed, HEARTBEAT_LIMITS), checked);
    }),
    { numRuns: 5000 },
  );
});

test('readHeartbeatFast reads a valid heartbeat (so the property above exercises both outcomes)', () => {
  const m = { type: 'heartbeat', seq: 3, atMs: 5, prev: GENESIS_HEAD, nodes: [{ id: 'n', up: true }], vms: [{ id: 'v', reachable: false }, { id: 'w', reachable: true, rttMicros: 9 }] };
  assert.deepStrictEqual(readHeartbeatFast(m, HEARTBEAT_LIMITS), m);
  assert.equal(readHeartbeatFast({ ...m, seq: -1 }, HEARTBEAT_LIMITS), undefined);
});

const wellFormedId = fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' });
const heartbeat: fc.Arbitrary<Heartbeat> = fc.record({
  seq: fc.oneof(fc.nat(), fc.maxSafeInteger(), fc.integer()),
  atMs: fc.oneof(fc.nat(), fc.constant(8.64e15)),
  nodes: fc.array(fc.record({ id: wellFormedId, up: fc.boolean() }), { maxLength: 5 }),
  vms: fc.array(fc.oneof(fc.record({ id: wellFormedId, reachable: fc.boolean() }), fc.record({ id: wellFormedId, reachable: fc.boolean(), rttMicros: fc.nat() })), { maxLength: 5 }),
});

test('heartbeatBodyBytes is the canonical JSON of the heartbeat, for any heartbeat', () => {
  fc.assert(
    fc.property(heartbeat, (hb) => {
      assert.equal(toHex(heartbeatBodyBytes(hb)), toHex(canonicalJsonBytes({ seq: hb.seq, atMs: hb.atMs, nodes: hb.nodes, vms: hb.vms })));
    }),
    { numRuns: 3000 },
  );
});

test('heartbeatBodyBytes leaves the unusual to the generic writer: extra keys, lone surrogates, unsafe numbers, -0, undefined rttMicros', () => {
  const base: Heartbeat = { seq: 1, atMs: 2, nodes: [{ id: 'n', up: true }], vms: [{ id: 'v', reachable: true, rttMicros: 3 }] };
  const extraKey = { ...base, nodes: [{ id: 'n', up: true, extra: 1 }] } as unknown as Heartbeat;
  assert.equal(Buffer.from(heartbeatBodyBytes(extraKey)).toString(), '{"atMs":2,"nodes":[{"extra":1,"id":"n","up":true}],"seq":1,"vms":[{"id":"v","reachable":true,"rttMicros":3}]}');
  const nullProto = Object.assign(Object.create(null) as object, { id: 'v', reachable: false }) as Heartbeat['vms'][number];
  assert.equal(Buffer.from(heartbeatBodyBytes({ ...base, vms: [nullProto] })).toString(), '{"atMs":2,"nodes":[{"id":"n","up":true}],"seq":1,"vms":[{"id":"v","reachable":false}]}');
  for (const bad of [
    { ...base, nodes: [{ id: '\ud800', up: true }] },
    { ...base, seq: 2 ** 53 },
    { ...base, atMs: -0 },
    { ...base, vms: [{ id: 'v', reachable: true, rttMicros: undefined }] },
    { ...base, vms: [{ id: 'v', reachable: true, rttMicros: 1.5 }] },
  ] as Heartbeat[]) {
    let generic: string;
    try {
      generic = toHex(canonicalJsonBytes({ seq: bad.seq, atMs: bad.atMs, nodes: bad.nodes, vms: bad.vms }));
    } catch (err) {
      assert.throws(() => heartbeatBodyBytes(bad), { name: (err as Error).name });
      continue;
    }
    assert.equal(toHex(heartbeatBodyBytes(bad)), generic);
  }
});

test('chainNext: a known head (the chain over canonical JSON is unchanged)', () => {
  const hb: Heartbeat = { seq: 1, atMs: 1_700_000_000_000, nodes: [{ id: 'node-1', up: true }], vms: [{ id: 'dep_1', reachable: true, rttMicros: 420 }] };
  // blake2b-256(32 zero bytes || '{"atMs":1700000000000,"nodes":[{"id":"node-1","up":true}],"seq":1,"vms":[{"id":"dep_1","reachable":true,"rttMicros":420}]}'), from CPython's hashlib.
  assert.equal(chainNext(GENESIS_HEAD, hb), 'b148d7060a2027acc20ac90fb81a28bcdd51e0216264fe8a3fe1be0a37986241');
});

test('chainNext: the one-buffer path hashes what the multi-part path hashes; a bad previous head is refused as before', () => {
  fc.assert(
    fc.property(heartbeat, fc.uint8Array({ minLength: 32, maxLength: 32 }), (hb, prevBytes) => {
      const prev = toHex(prevBytes);
      const expected = toHex(blake2bChained(prevBytes, canonicalJsonBytes({ seq: hb.seq, atMs: hb.atMs, nodes: hb.nodes, vms: hb.vms }), 32));
      assert.equal(chainNext(prev, hb), expected);
      assert.equal(chainNext(prev.toUpperCase(), hb), expected);
    }),
    { numRuns: 1000 },
  );
  const hb: Heartbeat = { seq: 1, atMs: 2, nodes: [], vms: [] };
  assert.throws(() => chainNext('ab'.repeat(31), hb), RangeError);
  assert.throws(() => chainNext('zz'.repeat(32), hb), RangeError);
});

test('chainNext and heartbeatBodyBytes: ids JSON escapes (quote, backslash, control characters) and ids it writes as is (non-ASCII, U+2028)', () => {
  const prev = 'cd'.repeat(32);
  for (const id of ['a"b', 'a\\b', 'line\nfeed', '\u0001', '\u001f', 'é', '\u2028', '😀', 'plain', '']) {
    const hb: Heartbeat = { seq: 7, atMs: 8, nodes: [{ id, up: true }], vms: [{ id, reachable: false, rttMicros: 1 }] };
    const canonical = canonicalJsonBytes({ seq: hb.seq, atMs: hb.atMs, nodes: hb.nodes, vms: hb.vms });
    assert.equal(toHex(heartbeatBodyBytes(hb)), toHex(canonical), JSON.stringify(id));
    assert.equal(chainNext(prev, hb), toHex(blake2bChained(Buffer.from(prev, 'hex'), canonical, 32)), JSON.stringify(id));
  }
});

test('chainNext: a heartbeat larger than the reused buffer, then a small one, hash as the multi-part path does', () => {
  const prev = 'ef'.repeat(32);
  const big: Heartbeat = { seq: 1, atMs: 2, nodes: [], vms: Array.from({ length: 200 }, (_, i) => ({ id: `vm-${'é'.repeat(20)}-${i}`, reachable: true, rttMicros: i })) };
  const small: Heartbeat = { seq: 2, atMs: 3, nodes: [{ id: 'n', up: false }], vms: [] };
  for (const hb of [big, small, big]) {
    assert.equal(chainNext(prev, hb), toHex(blake2bChained(Buffer.from(prev, 'hex'), canonicalJsonBytes({ seq: hb.seq, atMs: hb.atMs, nodes: hb.nodes, vms: hb.vms }), 32)));
  }
});
