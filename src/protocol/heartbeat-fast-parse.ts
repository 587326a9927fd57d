// The common case of reading a heartbeat message, without building a field name per value: the gateway reads one per agent per interval.
import type { HeartbeatMessage } from './agent-messages.js';
import type { NodeReport, VmReport } from './heartbeat.js';

/** The checks the full reader (parseAgentMessage) makes, as plain limits: the fast path must accept no more than it does. */
export interface HeartbeatLimits {
  readonly idPattern: RegExp;
  readonly headPattern: RegExp;
  readonly maxNodes: number;
  readonly maxVms: number;
  readonly maxRttMicros: number;
  readonly maxAtMs: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isId = (v: unknown, limits: HeartbeatLimits): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 64 && limits.idPattern.test(v);
const isIntegerIn = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;

/**
 * Reads a parsed heartbeat message when every field is valid; undefined otherwise, and then the
 * caller runs the full reader, which names the bad field. It makes the same checks as that
 * reader (test/protocol/heartbeat-fast-parse.test.ts compares them), so it accepts exactly what
 * it accepts, and builds objects of the same shapes.
 */
export function readHeartbeatFast(m: Record<string, unknown>, limits: HeartbeatLimits): HeartbeatMessage | undefined {
  const { seq, atMs, prev, nodes, vms } = m;
  if (!isIntegerIn(seq, Number.MAX_SAFE_INTEGER) || !isIntegerIn(atMs, limits.maxAtMs)) return undefined;
  if (typeof prev !== 'string' || !limits.headPattern.test(prev)) return undefined;
  if (!Array.isArray(nodes) || nodes.length > limits.maxNodes || !Array.isArray(vms) || vms.length > limits.maxVms) return undefined;
  const nodeReports: NodeReport[] = new Array<NodeReport>(nodes.length);
  for (let i = 0; i < nodes.length; i++) {
    const n: unknown = nodes[i];
    if (!isObject(n) || !isId(n.id, limits) || typeof n.up !== 'boolean') return undefined;
    nodeReports[i] = { id: n.id, up: n.up };
  }
  const vmReports: VmReport[] = new Array<VmReport>(vms.length);
  for (let i = 0; i < vms.length; i++) {
    const v: unknown = vms[i];
    if (!isObject(v) || !isId(v.id, limits) || typeof v.reachable !== 'boolean') return undefined;
    const rtt = v.rttMicros;
    if (rtt === undefined) vmReports[i] = { id: v.id, reachable: v.reachable };
    else if (isIntegerIn(rtt, limits.maxRttMicros)) vmReports[i] = { id: v.id, reachable: v.reachable, rttMicros: rtt };
    else return undefined;
  }
  return { type: 'heartbeat', seq, atMs, prev, nodes: nodeReports, vms: vmReports };
}
