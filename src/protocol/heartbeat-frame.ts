// A heartbeat read straight from its WebSocket frame's bytes, in the one form agents send, with its chain head: the gateway reads one per agent per interval.
import { blake2b256Hex } from '../identity/index.js';
import { HEARTBEAT_LIMITS, type HeartbeatMessage } from './agent-messages.js';
import type { NodeReport, VmReport } from './heartbeat.js';

/** A heartbeat message and its chain head: chainNext(message.prev, message). */
export interface HeartbeatFrame {
  readonly message: HeartbeatMessage;
  readonly head: string;
}

const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text);
// The pieces of the agents' form, JSON.stringify of { type, seq, atMs, prev, nodes, vms } with
// nodes { id, up } and VMs { id, reachable, rttMicros? } (src/agent/agent.ts, test/helpers/sim-agent.ts).
const START = bytesOf('{"type":"heartbeat","seq":');
const AT_MS = bytesOf(',"atMs":');
const PREV = bytesOf(',"prev":"');
const NODES = bytesOf('","nodes":[');
const VMS = bytesOf(',"vms":[');
const ID = bytesOf('{"id":"');
const UP = bytesOf('","up":');
const REACHABLE = bytesOf('","reachable":');
const RTT = bytesOf(',"rttMicros":');
const TRUE = bytesOf('true');
const FALSE = bytesOf('false');
// The canonical body's pieces (heartbeat.ts heartbeatBodyBytes: keys atMs, nodes, seq, vms).
const BODY_AT_MS = bytesOf('{"atMs":');
const BODY_NODES = bytesOf(',"nodes":');
const BODY_SEQ = bytesOf(',"seq":');
const BODY_VMS = bytesOf(',"vms":');
const BODY_CLOSE = bytesOf('}');

const QUOTE = 0x22;
const COMMA = 0x2c;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** The frame being read and the position in it (reads are synchronous, one at a time). */
const EMPTY = Buffer.alloc(0);
let frame: Buffer = EMPTY;
let at = 0;
/** Where the hashed bytes are written: the previous head's 32 bytes, then the canonical body. Grown to fit a frame. */
let scratch = Buffer.allocUnsafe(4096);
let out = 0;

/** Consumes `bytes` if the frame has them at the current position. */
function take(bytes: Uint8Array): boolean {
  const n = bytes.length;
  if (at + n > frame.length) return false;
  for (let i = 0; i < n; i++) if (frame[at + i] !== bytes[i]) return false;
  at += n;
  return true;
}

/**
 * Consumes a JSON integer in its one canonical spelling (0, or digits not starting with 0; no
 * sign, fraction or exponent) no larger than `max`; -1 when there is none. `max` is at most
 * Number.MAX_SAFE_INTEGER: a longer spelling is refused, and a 16-digit one above it is refused
 * by the comparison (the sum only rounds at 2^53 or more, which is above `max`).
 */
function integer(max: number): number {
  const start = at;
  let value = 0;
  while (at < frame.length) {
    const c = frame[at] as number;
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
    at++;
  }
  const digits = at - start;
  if (digits === 0 || digits > 16 || (digits > 1 && frame[start] === 0x30) || value > max) return -1;
  return value;
}

/** Whether byte `c` may follow the first character of an id (ID_PATTERN: letters, digits and ._:-). */
const isIdTail = (c: number): boolean => (c >= 0x30 && c <= 0x3a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f;
/** Whether byte `c` may start an id (a letter or a digit). */
const isIdHead = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** Consumes an id (ID_PATTERN, 1 to 64 characters) up to its closing quote, which is left; undefined when there is none. */
function id(): string | undefined {
  const start = at;
  if (at >= frame.length || !isIdHead(frame[at] as number)) return undefined;
  at++;
  while (at < frame.length && isIdTail(frame[at] as number)) at++;
  if (at - start > 64 || frame[at] !== QUOTE) return undefined;
  return frame.toString('latin1', start, at);
}

/** Consumes `true` or `false`; undefined when neither is there. */
function bool(): boolean | undefined {
  if (take(TRUE)) return true;
  if (take(FALSE)) return false;
  return undefined;
}

/** The value of a lower-case hex digit, or -1 (HEX64 is lower-case only). */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Consumes 64 lower-case hex digits into scratch[0..32); false when they are not there. */
function head(): boolean {
  if (at + 64 > frame.length) return false;
  for (let i = 0; i < 32; i++) {
    const hi = hexDigit(frame[at + 2 * i] as number);
    const lo = hexDigit(frame[at + 2 * i + 1] as number);
    if (hi < 0 || lo < 0) return false;
    scratch[i] = (hi << 4) | lo;
  }
  at += 64;
  return true;
}

/** Appends `bytes`, or frame[from..to), to the hashed bytes. */
function put(bytes: Uint8Array): void {
  scratch.set(bytes, out);
  out += bytes.length;
}
function putFrame(from: number, to: number): void {
  out += frame.copy(scratch, out, from, to);
}

/**
 * Reads a heartbeat from the bytes of its frame when they are exactly what agents send:
 * JSON.stringify of { type, seq, atMs, prev, nodes: [{ id, up }], vms: [{ id, reachable,
 * rttMicros? }] } in that key order, with no space, each value within the full reader's limits
 * (HEARTBEAT_LIMITS). Then its canonical body is the frame's own bytes rearranged (in that form
 * the nodes and VMs arrays are already canonical JSON: their keys are in order, ids need no
 * escape, integers have one spelling), so the chain head is hashed from them without parsing
 * into objects and serialising again. Anything else, valid or not, gives undefined and the
 * caller runs the full reader (parseAgentMessage), which names what is wrong. What this accepts,
 * the full reader accepts with the same result and chainNext gives the same head
 * (test/protocol/heartbeat-frame.test.ts compares them on random and mutated frames).
 */
export function readHeartbeatFrame(bytes: Buffer): HeartbeatFrame | undefined {
  frame = bytes;
  at = 0;
  const read = readFrame();
  frame = EMPTY;
  return read;
}

function readFrame(): HeartbeatFrame | undefined {
  const limits = HEARTBEAT_LIMITS;
  if (!take(START)) return undefined;
  const seqStart = at;
  const seq = integer(Number.MAX_SAFE_INTEGER);
  if (seq < 0) return undefined;
  const seqEnd = at;
  if (!take(AT_MS)) return undefined;
  const atMsStart = at;
  const atMs = integer(limits.maxAtMs);
  if (atMs < 0) return undefined;
  const atMsEnd = at;
  if (!take(PREV)) return undefined;
  const prevStart = at;
  if (!head()) return undefined;
  const prevEnd = at;
  if (!take(NODES)) return undefined;
  const nodesStart = at - 1;
  const nodes: NodeReport[] = [];
  if (frame[at] === CLOSE_BRACKET) at++;
  else {
    for (;;) {
      if (nodes.length === limits.maxNodes || !take(ID)) return undefined;
      const nodeId = id();
      if (nodeId === undefined || !take(UP)) return undefined;
      const up = bool();
      if (up === undefined || frame[at] !== CLOSE_BRACE) return undefined;
      at++;
      nodes.push({ id: nodeId, up });
      const next = frame[at++];
      if (next === CLOSE_BRACKET) break;
      if (next !== COMMA) return undefined;
    }
  }
  const nodesEnd = at;
  if (!take(VMS)) return undefined;
  const vmsStart = at - 1;
  const vms: VmReport[] = [];
  if (frame[at] === CLOSE_BRACKET) at++;
  else {
    for (;;) {
      if (vms.length === limits.maxVms || !take(ID)) return undefined;
      const vmId = id();
      if (vmId === undefined || !take(REACHABLE)) return undefined;
      const reachable = bool();
      if (reachable === undefined) return undefined;
      if (frame[at] === CLOSE_BRACE) vms.push({ id: vmId, reachable });
      else {
        if (!take(RTT)) return undefined;
        const rttMicros = integer(limits.maxRttMicros);
        if (rttMicros < 0 || frame[at] !== CLOSE_BRACE) return undefined;
        vms.push({ id: vmId, reachable, rttMicros });
      }
      at++;
      const next = frame[at++];
      if (next === CLOSE_BRACKET) break;
      if (next !== COMMA) return undefined;
    }
  }
  const vmsEnd = at;
  if (frame[at] !== CLOSE_BRACE || at + 1 !== frame.length) return undefined;
  // scratch[0..32) holds the previous head (head() wrote it); the canonical body follows. It is shorter
  // than the frame (type and prev are left out), so frame.length more bytes fit it; grown only for a
  // heartbeat read whole, not for any large message that is not one.
  if (scratch.length < frame.length + 32) {
    const bigger = Buffer.allocUnsafe(Math.max(frame.length + 32, 2 * scratch.length));
    scratch.copy(bigger, 0, 0, 32);
    scratch = bigger;
  }
  out = 32;
  put(BODY_AT_MS);
  putFrame(atMsStart, atMsEnd);
  put(BODY_NODES);
  putFrame(nodesStart, nodesEnd);
  put(BODY_SEQ);
  putFrame(seqStart, seqEnd);
  put(BODY_VMS);
  putFrame(vmsStart, vmsEnd);
  put(BODY_CLOSE);
  const prev = frame.toString('latin1', prevStart, prevEnd);
  return { message: { type: 'heartbeat', seq, atMs, prev, nodes, vms }, head: blake2b256Hex(scratch, out) };
}
