// Heartbeats and the hash chain over them: both the agent and the gateway fold every heartbeat into it.
import { blake2b256Hex, blake2bChained, canonicalJsonBytes, fromHex, toHex } from '../identity/index.js';

/** One node's state in a heartbeat. */
export interface NodeReport {
  readonly id: string;
  readonly up: boolean;
}

/** One VM's reachability in a heartbeat: a TCP connect to its Mycelium address. */
export interface VmReport {
  readonly id: string;
  readonly reachable: boolean;
  /** Round-trip time of the connect in microseconds (an integer, so it signs canonically). */
  readonly rttMicros?: number;
}

/** What an agent reports every heartbeat interval. `atMs` is the agent's clock. */
export interface Heartbeat {
  readonly seq: number;
  readonly atMs: number;
  readonly nodes: readonly NodeReport[];
  readonly vms: readonly VmReport[];
}

/** The chain head before the first heartbeat. */
export const GENESIS_HEAD = '0'.repeat(64);

/** The next chain head: blake2b-256(previous head || canonical JSON of the heartbeat). */
export function chainNext(prevHeadHex: string, heartbeat: Heartbeat): string {
  if (typeof prevHeadHex === 'string' && HEAD_HEX.test(prevHeadHex)) {
    // The usual case, once per heartbeat at the gateway: the head's bytes and the body written into
    // one reused buffer and hashed in one call, rather than a body string, fresh buffers and a
    // multi-part hash (bench/agents, bench/heartbeat-ingest).
    reserve(32);
    scratch.write(prevHeadHex, 0, 32, 'hex');
    at = 32;
    if (writeBodyFast(heartbeat)) return blake2b256Hex(scratch, at);
  }
  return toHex(blake2bChained(fromHex('prevHeadHex', prevHeadHex, 32), heartbeatBodyBytes(heartbeat), 32));
}

/** A chain head in hex, either case (what fromHex takes for 32 bytes). */
const HEAD_HEX = /^[0-9a-fA-F]{64}$/;

/**
 * The canonical JSON bytes of a heartbeat's fields (seq, atMs, nodes: id and up, vms: id,
 * reachable and rttMicros), what the chain hashes. The gateway takes one per heartbeat, so the
 * usual case is written out field by field in canonical key order (atMs, nodes, seq, vms; id, up;
 * id, reachable, rttMicros) rather than by the generic writer, which sorts keys per object: about
 * a fifth of its cost (bench/agents, in-process). Anything the generic writer would refuse or
 * write otherwise (a malformed string, a number that is not a safe integer, a report with other
 * keys) goes to canonicalJsonBytes, so the bytes are always canonicalJsonBytes' bytes
 * (test/protocol/heartbeat-fast-path.test.ts checks both on random heartbeats).
 */
export function heartbeatBodyBytes(hb: Heartbeat): Uint8Array {
  at = 0;
  return writeBodyFast(hb) ? Buffer.from(scratch.subarray(0, at)) : canonicalJsonBytes({ seq: hb.seq, atMs: hb.atMs, nodes: hb.nodes, vms: hb.vms });
}

const isSafeCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && !Object.is(v, -0);
const isPlainText = (v: unknown): v is string => typeof v === 'string' && (v as string & { isWellFormed(): boolean }).isWellFormed();

/** Whether `o` is a plain object with exactly `n` own enumerable keys (the ones the caller reads). */
function hasKeyCount(o: object, n: number): boolean {
  const proto = Object.getPrototypeOf(o) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  let count = 0;
  for (const k in o) if (Object.prototype.hasOwnProperty.call(o, k)) count++;
  return count === n;
}

/**
 * The fast path's output: one buffer reused by every call (they are synchronous) and grown when a
 * heartbeat does not fit, written up to `at`. A body string built by concatenation was about half
 * of what the gateway allocated per heartbeat (bench/heartbeat-ingest).
 */
let scratch = Buffer.allocUnsafe(4096);
let at = 0;

/** Makes room for `bytes` more bytes after `at`. */
function reserve(bytes: number): void {
  if (at + bytes <= scratch.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(at + bytes, 2 * scratch.length));
  scratch.copy(bigger, 0, 0, at);
  scratch = bigger;
}

/** Appends `text` as UTF-8: ASCII byte by byte in JS (a Buffer.write per piece cost more than the string it saved), the rest by Buffer.write. */
function put(text: string): void {
  reserve(3 * text.length); // UTF-8 takes at most 3 bytes per UTF-16 unit
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      at += scratch.write(text.substring(i), at, 'utf8');
      return;
    }
    scratch[at++] = c;
  }
}

/** Whether JSON.stringify escapes any character of a well-formed string (a quote, a backslash, a control character); it writes every other as is. */
function hasJsonEscape(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) return true;
  }
  return false;
}

/** A string as JSON text (what JSON.stringify writes), without making the quoted copy when nothing needs escaping. */
function putString(text: string): void {
  if (hasJsonEscape(text)) {
    put(JSON.stringify(text));
    return;
  }
  put('"');
  put(text);
  put('"');
}

/** Writes the body from `at` on; false when the heartbeat needs the generic writer (what was written is then meaningless). */
function writeBodyFast(hb: Heartbeat): boolean {
  if (!isSafeCount(hb.seq) || !isSafeCount(hb.atMs) || !Array.isArray(hb.nodes) || !Array.isArray(hb.vms)) return false;
  put('{"atMs":');
  put(String(hb.atMs));
  put(',"nodes":[');
  for (let i = 0; i < hb.nodes.length; i++) {
    const n = hb.nodes[i] as NodeReport;
    if (typeof n !== 'object' || n === null || !isPlainText(n.id) || typeof n.up !== 'boolean' || !hasKeyCount(n, 2)) return false;
    put(i === 0 ? '{"id":' : ',{"id":');
    putString(n.id);
    put(n.up ? ',"up":true}' : ',"up":false}');
  }
  put('],"seq":');
  put(String(hb.seq));
  put(',"vms":[');
  for (let i = 0; i < hb.vms.length; i++) {
    const v = hb.vms[i] as VmReport;
    if (typeof v !== 'object' || v === null || !isPlainText(v.id) || typeof v.reachable !== 'boolean') return false;
    const hasRtt = v.rttMicros !== undefined;
    if ((hasRtt && !isSafeCount(v.rttMicros)) || !hasKeyCount(v, hasRtt ? 3 : 2)) return false;
    put(i === 0 ? '{"id":' : ',{"id":');
    putString(v.id);
    put(v.reachable ? ',"reachable":true' : ',"reachable":false');
    if (hasRtt) {
      put(',"rttMicros":');
      put(String(v.rttMicros));
    }
    put('}');
  }
  put(']}');
  return true;
}

/** Signed by an agent at each period close: this chain head covers every heartbeat up to `seq`. */
export interface ChainHeadStatement {
  readonly agent: string;
  readonly gateway: string;
  readonly periodStartMs: number;
  readonly periodEndMs: number;
  readonly seq: number;
  readonly head: string;
}

/** The purpose tag of a chain-head signature. */
export const CHAIN_HEAD_PURPOSE = 'hypha/chain-head/v1';

/** The purpose tag of an agent's answer to the gateway's challenge. */
export const AGENT_AUTH_PURPOSE = 'hypha/agent-auth/v1';
