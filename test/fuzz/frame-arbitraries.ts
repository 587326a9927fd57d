// fast-check generators of agent WebSocket frames (src/protocol/agent-messages.ts shapes, valid-ish and broken), as recipes completed at send time with the connection's nonce, seq and chain head.
import fc from 'fast-check';
import { signJsonStatement, toBase64, type Identity } from '../../src/identity/index.js';
import { AGENT_AUTH_PURPOSE, CHAIN_HEAD_PURPOSE, GENESIS_HEAD, MAX_NODES_PER_AGENT } from '../../src/protocol/index.js';

/** Which key a hello claims, and whether it can really sign for it. */
export type HelloAgent = 'fuzz-farmer' | 'legit-farmer-unsigned' | 'stranger-key' | 'garbage';

/** A first frame: what an unauthenticated connection sends after the challenge. */
export interface FirstFrame {
  readonly phase: 'first';
  readonly from: 'farm' | 'stranger';
  readonly hello?: {
    readonly agent: HelloAgent;
    readonly nodes: 'own' | 'foreign' | 'none' | 'too-many' | 'bad-id' | 'bad-capacity' | 'not-array';
    readonly signature: 'valid' | 'other-nonce' | 'random' | 'garbage' | 'missing';
    readonly extra: boolean;
  };
  /** Anything else, when there is no hello. */
  readonly raw?: RawFrame;
}

/** A frame sent after a welcome, on the fuzz farmer's own connection. */
export interface AfterFrame {
  readonly phase: 'after';
  readonly heartbeat?: HeartbeatRecipe;
  readonly chainHead?: { readonly signature: 'valid' | 'random' | 'garbage'; readonly head: 'current' | 'random'; readonly period: 'sane' | 'misaligned' | 'inverted' | 'huge'; readonly periodOffset: number };
  readonly other?: 'result' | 'result-bad' | 'countersigned' | 'countersign-refused' | 'hello-again' | 'bid' | 'bid-bad' | 'unknown-type';
  readonly raw?: RawFrame;
}

/** How each heartbeat field is made. */
export interface HeartbeatRecipe {
  readonly seq: 'next' | 'gap' | 'replay' | 'zero' | 'huge' | 'negative' | 'float' | 'string';
  readonly prev: 'head' | 'genesis' | 'random' | 'short';
  readonly at: 'now' | 'future' | 'past' | 'huge' | 'negative';
  readonly nodes: 'own' | 'foreign' | 'none' | 'too-many' | 'bad';
  readonly vms: 'none' | 'unknown' | 'many' | 'bad' | 'rtt-huge';
  /** How far a 'future' or 'past' stamp is from now, in hours (up to ~228 years). */
  readonly hours: number;
}

/** Frames that are not (valid) messages at all. */
export type RawFrame = { readonly text: string } | { readonly binary: Uint8Array };

export type FrameRecipe = FirstFrame | AfterFrame;

/** Mostly one of `good` (the gateway accepts it), sometimes one of `bad`: so most frames get past the parser and exercise what comes after it. */
function mostly<T>(good: readonly T[], bad: readonly T[]): fc.Arbitrary<T> {
  return fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...good) }, { weight: 1, arbitrary: fc.constantFrom(...bad) });
}

const rawFrame: fc.Arbitrary<RawFrame> = fc.oneof(
  fc.string({ maxLength: 200 }).map((text) => ({ text })),
  fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v) })),
  fc.constantFrom('', 'null', '[]', '{}', '{"type": null}', '{"type": "__proto__"}', '{"__proto__": {"type": "hello"}}', '{"type": "heartbeat"}', '{"type": "hello", "nodes": {}}', '"hello"', '1e999', '{"type":"hello"', '\ufeff{}').map((text) => ({ text })),
  fc.integer({ min: 1000, max: 100_000 }).map((n) => ({ text: '['.repeat(n) + ']'.repeat(n) })),
  fc.integer({ min: 100_000, max: 1_000_000 }).map((n) => ({ text: JSON.stringify({ type: 'heartbeat', pad: 'x'.repeat(n) }) })),
  fc.uint8Array({ maxLength: 200 }).map((binary) => ({ binary })),
  fc.constant({ binary: Uint8Array.from(Buffer.from('{"type":"hello"}')) }),
);

/** A first frame, from the farm's /64 (registered for the fuzz farmer) or a stranger's. */
export const firstFrame: fc.Arbitrary<FirstFrame> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      phase: fc.constant('first' as const),
      from: fc.constantFrom('farm' as const, 'farm' as const, 'stranger' as const),
      hello: fc.record({
        agent: mostly<HelloAgent>(['fuzz-farmer', 'legit-farmer-unsigned', 'stranger-key'], ['garbage']),
        nodes: mostly(['own', 'own', 'foreign'] as const, ['none', 'too-many', 'bad-id', 'bad-capacity', 'not-array'] as const),
        signature: mostly(['valid', 'valid', 'other-nonce', 'random'] as const, ['garbage', 'missing'] as const),
        extra: fc.boolean(),
      }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ phase: fc.constant('first' as const), from: fc.constantFrom('farm' as const, 'stranger' as const), raw: rawFrame }) },
);

/** A frame after the welcome. */
export const afterFrame: fc.Arbitrary<AfterFrame> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      phase: fc.constant('after' as const),
      // Each field from what the gateway takes (a gap, a replay and a forged prev are taken, and noted);
      // in about one heartbeat in two, one field is broken.
      heartbeat: fc
        .tuple(
          fc.record({
            seq: fc.constantFrom('next', 'next', 'next', 'next', 'gap', 'replay', 'zero'),
            prev: fc.constantFrom('head', 'head', 'head', 'genesis', 'random'),
            at: fc.constantFrom('now', 'now', 'now', 'future', 'past'),
            nodes: fc.constantFrom('own', 'own', 'foreign', 'none'),
            vms: fc.constantFrom('none', 'unknown'),
            hours: fc.integer({ min: 1, max: 2_000_000 }),
          }),
          fc.oneof(
            { weight: 6, arbitrary: fc.constant({}) },
            fc.constantFrom('huge', 'negative', 'float', 'string').map((seq) => ({ seq })),
            fc.constant({ prev: 'short' }),
            fc.constantFrom('huge', 'negative').map((at) => ({ at })),
            fc.constantFrom('too-many', 'bad').map((nodes) => ({ nodes })),
            fc.constantFrom('many', 'bad', 'rtt-huge').map((vms) => ({ vms })),
          ),
        )
        .map(([good, broken]): HeartbeatRecipe => ({ ...good, ...broken })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      phase: fc.constant('after' as const),
      chainHead: fc.record({
        signature: mostly(['valid', 'random'] as const, ['garbage'] as const),
        head: fc.constantFrom('current' as const, 'random' as const),
        period: fc.constantFrom('sane' as const, 'sane' as const, 'misaligned' as const, 'inverted' as const, 'huge' as const),
        periodOffset: fc.integer({ min: -100, max: 100 }),
      }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ phase: fc.constant('after' as const), other: fc.constantFrom('result' as const, 'result-bad' as const, 'countersigned' as const, 'countersign-refused' as const, 'hello-again' as const, 'bid' as const, 'bid-bad' as const, 'unknown-type' as const) }) },
  { weight: 1, arbitrary: fc.record({ phase: fc.constant('after' as const), raw: rawFrame }) },
);

/** What a recipe needs at send time. */
export interface FrameState {
  readonly fuzzFarmer: Identity;
  readonly legitFarmer: string;
  readonly stranger: Identity;
  readonly gateway: string;
  readonly nonce: string;
  readonly ownNode: string;
  readonly foreignNode: string;
  /** The gateway's billing period: chain heads name whole periods. */
  readonly periodMs: number;
  seq: number;
  head: string;
}

const randomBase64 = (n: number): string => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 255)).toString('base64');

/** The hello a first-frame recipe describes, as text. */
export function helloText(h: NonNullable<FirstFrame['hello']>, s: FrameState): string {
  const signer = h.agent === 'stranger-key' ? s.stranger : s.fuzzFarmer;
  const agent = { 'fuzz-farmer': s.fuzzFarmer.agent, 'legit-farmer-unsigned': s.legitFarmer, 'stranger-key': s.stranger.agent, garbage: 'uhCAk' + 'A'.repeat(48) }[h.agent];
  const capacity = { cpu: 1, memoryGb: 1, diskGb: 1 };
  const nodes: unknown = {
    own: [{ id: s.ownNode, capacity }],
    foreign: [{ id: s.foreignNode, capacity }],
    none: [],
    'too-many': Array.from({ length: MAX_NODES_PER_AGENT + 1 }, (_, i) => ({ id: `n${i}`, capacity })),
    'bad-id': [{ id: '../etc', capacity }],
    'bad-capacity': [{ id: s.ownNode, capacity: { cpu: -1, memoryGb: 1e30, diskGb: 'x' } }],
    'not-array': { id: s.ownNode },
  }[h.nodes];
  const ids = Array.isArray(nodes) ? (nodes as { id: string }[]).map((n) => n.id) : [];
  const sign = (nonce: string): string => toBase64(signJsonStatement(signer.secretKey, AGENT_AUTH_PURPOSE, { agent, gateway: s.gateway, nonce, nodes: ids }));
  const signature = { valid: sign(s.nonce), 'other-nonce': sign('not-the-nonce'), random: randomBase64(64), garbage: '!!not base64!!', missing: undefined }[h.signature];
  return JSON.stringify({ type: 'hello', agent, nodes, ...(signature === undefined ? {} : { signature }), ...(h.extra ? { admin: true, __proto__x: 1 } : {}) });
}

/** Whether a first frame should be welcomed: the fuzz farmer, signing the real challenge, for its own node, from its /64. */
export function shouldWelcome(f: FirstFrame): boolean {
  return f.hello !== undefined && f.from === 'farm' && f.hello.agent === 'fuzz-farmer' && f.hello.signature === 'valid' && f.hello.nodes === 'own';
}

/** A post-welcome frame as text or bytes; a valid next heartbeat advances `s` (seq, head) as the gateway will. */
export function afterFrameData(f: AfterFrame, s: FrameState, chainNext: (prev: string, hb: { seq: number; atMs: number; nodes: unknown[]; vms: unknown[] }) => string): string | Uint8Array {
  if (f.raw) return 'text' in f.raw ? f.raw.text : f.raw.binary;
  const now = Date.now();
  if (f.heartbeat) {
    const h = f.heartbeat;
    const seq: unknown = { next: s.seq + 1, gap: s.seq + 5, replay: Math.max(1, s.seq), zero: 0, huge: Number.MAX_SAFE_INTEGER + 2, negative: -1, float: s.seq + 1.5, string: String(s.seq + 1) }[h.seq];
    const prev = { head: s.head, genesis: GENESIS_HEAD, random: 'ab'.repeat(32), short: 'abc' }[h.prev];
    const atMs: unknown = { now, future: Math.min(8.64e15, now + h.hours * 3_600_000), past: Math.max(0, now - h.hours * 3_600_000), huge: 8.64e15 + 1, negative: -5 }[h.at];
    const nodes: unknown = { own: [{ id: s.ownNode, up: true }], foreign: [{ id: s.foreignNode, up: false }], none: [], 'too-many': Array.from({ length: MAX_NODES_PER_AGENT + 1 }, (_, i) => ({ id: `n${i}`, up: true })), bad: [{ id: s.ownNode, up: 'yes' }] }[h.nodes];
    const vms: unknown = {
      none: [],
      unknown: [{ id: 'dep_unknown', reachable: true, rttMicros: 500 }],
      many: Array.from({ length: 4097 }, (_, i) => ({ id: `v${i}`, reachable: true })),
      bad: [{ id: 'v', reachable: 1 }],
      'rtt-huge': [{ id: 'v', reachable: true, rttMicros: 1e12 }],
    }[h.vms];
    const message = { type: 'heartbeat', seq, atMs, prev, nodes, vms };
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq > s.seq && typeof atMs === 'number' && Number.isSafeInteger(atMs) && atMs >= 0 && atMs <= 8.64e15 && prev.length === 64 && Array.isArray(nodes) && nodes.length <= MAX_NODES_PER_AGENT && h.nodes !== 'bad' && h.vms !== 'many' && h.vms !== 'bad' && h.vms !== 'rtt-huge') {
      // The gateway takes it (perhaps noting a gap or a forged prev) and moves its chain on.
      s.head = chainNext(prev, { seq, atMs, nodes: nodes as unknown[], vms: vms as unknown[] });
      s.seq = seq;
    }
    return JSON.stringify(message);
  }
  if (f.chainHead) {
    const c = f.chainHead;
    const aligned = (Math.floor(now / s.periodMs) + c.periodOffset) * s.periodMs;
    const [start, end] = { sane: [aligned, aligned + s.periodMs], misaligned: [aligned + 1234, aligned + 1234 + s.periodMs], inverted: [now, now - 3_600_000], huge: [8.64e15 - s.periodMs, 8.64e15] }[c.period] as [number, number];
    const head = c.head === 'current' ? s.head : 'cd'.repeat(32);
    const statement = { agent: s.fuzzFarmer.agent, gateway: s.gateway, periodStartMs: start, periodEndMs: end, seq: s.seq, head };
    const signature = { valid: toBase64(signJsonStatement(s.fuzzFarmer.secretKey, CHAIN_HEAD_PURPOSE, statement)), random: randomBase64(64), garbage: '***' }[c.signature];
    return JSON.stringify({ type: 'chain-head', periodStartMs: start, periodEndMs: end, seq: s.seq, head, signature });
  }
  switch (f.other) {
    case 'result':
      return JSON.stringify({ type: 'result', id: 'cAAAAAAAAAAAA', ok: true, vm: { id: 'dep_x', myceliumIp: '4ff::1', state: 'running' } });
    case 'result-bad':
      return JSON.stringify({ type: 'result', id: '../x', ok: 'yes', vm: [] });
    case 'countersigned':
      return JSON.stringify({ type: 'countersigned', receiptId: 'rcp_unknown', signature: randomBase64(64) });
    case 'countersign-refused':
      return JSON.stringify({ type: 'countersign-refused', receiptId: 'rcp_unknown', reason: 'x'.repeat(500) });
    case 'hello-again':
      return JSON.stringify({ type: 'hello', agent: s.fuzzFarmer.agent, nodes: [{ id: s.ownNode }], signature: randomBase64(64) });
    case 'bid':
      // A well-formed bid for a request that does not exist: refused, nothing held.
      return JSON.stringify({ type: 'bid', bid: { request: 'req_unknown', gateway: s.gateway, farmer: s.fuzzFarmer.agent, node: s.ownNode, cpu: 1, memoryGb: 2, diskGb: 20, pricePerHour: '0.01', unit: 'SPORE', validUntilMs: now + 3_600_000, signature: randomBase64(64) } });
    case 'bid-bad':
      return JSON.stringify({ type: 'bid', bid: { request: '../x', pricePerHour: 0.01, cpu: -1, signature: 7 } });
    default:
      return JSON.stringify({ type: 'welcome', agent: s.fuzzFarmer.agent });
  }
}
