// Heartbeats and the hash chain over them: both the agent and the gateway fold every heartbeat into it.
import { blake2bChained, canonicalJsonBytes, fromHex, toHex } from '../identity/index.js';

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
  const prev = fromHex('prevHeadHex', prevHeadHex, 32);
  const body = canonicalJsonBytes({ seq: heartbeat.seq, atMs: heartbeat.atMs, nodes: heartbeat.nodes, vms: heartbeat.vms });
  return toHex(blake2bChained(prev, body, 32));
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
