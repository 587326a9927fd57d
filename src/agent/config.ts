// The farmer agent's configuration: which gateway, which key, which nodes, and how to run VMs.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { errorMessage } from '../identity/error-message.js';
import { parseIpv6 } from '../identity/index.js';
import { ValidationError, expectAgentPubKey, expectArray, expectSubnet64, expectInteger, expectNumber, expectObject, expectOnlyKeys, expectString } from '../protocol/validate.js';
import { ID_PATTERN } from '../protocol/agent-messages.js';
import type { Capacity } from '../protocol/offer.js';
import { parseBiddingConfig, type BiddingConfig } from './bidding/bidding-config.js';

/** How the agent decides a node is up. */
export type NodeCheck = { readonly kind: 'self' } | { readonly kind: 'tcp'; readonly address: string; readonly port: number };

/** A node the agent speaks for. */
export interface AgentNode {
  readonly id: string;
  /** The node's Mycelium /64 (agent-run VMs get addresses in it). */
  readonly subnet?: string;
  readonly capacity: Capacity;
  readonly check: NodeCheck;
}

/** The agent's whole configuration. Durations in clock ms. */
export interface AgentConfig {
  /** The first gateway's base URL, http://[mycelium address]:port (`gateways[0]`). */
  readonly gateway: string;
  /**
   * Every gateway of an active/standby pair (or more), tried in turn: a standby refuses the
   * connection with 503 and names the active one, which the agent tries next. One entry when the
   * config has the single `gateway`.
   */
  readonly gateways: readonly string[];
  /** The gateway's AgentPubKey, pinned; when absent it is learned on first contact and kept. */
  readonly gatewayAgent?: string;
  /** A source address to connect from (the host's Mycelium address); default: the kernel's choice. */
  readonly sourceAddress?: string;
  readonly keyFile: string;
  readonly stateDir: string;
  readonly nodes: readonly AgentNode[];
  /** Agent-run VMs: the lab driver on one node; `Agent.start` refuses it outside `hypha lab` (src/agent/lab-vm/lab-only.ts). */
  readonly vmDriver?: { readonly kind: 'lab'; readonly node: string; readonly interfaceName: string };
  readonly heartbeatIntervalMs: number;
  readonly bufferMaxHeartbeats: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  /** How far (seconds) a receipt's up-time may be from the agent's own before it refuses to countersign. */
  readonly countersignToleranceSeconds?: number;
  readonly lab?: { readonly hourSeconds: number; readonly epochMs: number };
  /** How the agent bids on capacity requests (absent: it does not bid). */
  readonly bidding?: BiddingConfig;
}

/** Reads and checks an agent config file; relative paths are relative to its folder. */
export function loadAgentConfig(path: string): AgentConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ValidationError('config', `cannot read ${path}: ${errorMessage(err)}`);
  }
  return parseAgentConfig(raw, dirname(resolve(path)));
}

/** Checks a parsed agent config. */
export function parseAgentConfig(raw: unknown, base: string): AgentConfig {
  const c = expectObject(raw, 'config');
  expectOnlyKeys(
    c,
    ['gateway', 'gateways', 'gatewayAgent', 'sourceAddress', 'keyFile', 'stateDir', 'nodes', 'vmDriver', 'heartbeatIntervalSeconds', 'bufferMaxHeartbeats', 'reconnect', 'countersignToleranceSeconds', 'lab', 'bidding'],
    'config',
  );
  const path = (v: unknown, f: string, fallback: string): string => {
    const p = v === undefined ? fallback : expectString(v, f, { maxLength: 4096 });
    return isAbsolute(p) ? p : resolve(base, p);
  };
  const gatewayUrl = (v: unknown, f: string): string => expectString(v, f, { pattern: /^http:\/\/\[[0-9a-fA-F:]+\]:\d+\/?$/, patternName: 'http://[MYCELIUM ADDRESS]:PORT' }).replace(/\/$/, '');
  if (c.gateway !== undefined && c.gateways !== undefined) throw new ValidationError('config.gateways', 'give either "gateway" (one URL) or "gateways" (a list), not both');
  if (c.gateway === undefined && c.gateways === undefined) throw new ValidationError('config.gateway', 'required: the gateway URL, http://[MYCELIUM ADDRESS]:PORT (or "gateways": [...] for an active/standby pair)');
  const gateways = c.gateways !== undefined ? [...new Set(expectArray(c.gateways, 'config.gateways', 1, 8, gatewayUrl))] : [gatewayUrl(c.gateway, 'config.gateway')];
  const gateway = gateways[0] as string;
  const nodes = expectArray(c.nodes, 'config.nodes', 1, 64, (v, f): AgentNode => {
    const o = expectObject(v, f);
    expectOnlyKeys(o, ['id', 'subnet', 'capacity', 'check'], f);
    const cap = expectObject(o.capacity ?? { cpu: 0, memoryGb: 0, diskGb: 0 }, `${f}.capacity`);
    const check = expectObject(o.check ?? { kind: 'self' }, `${f}.check`);
    return {
      id: expectString(o.id, `${f}.id`, { pattern: ID_PATTERN, patternName: 'a node id' }),
      ...(o.subnet === undefined ? {} : { subnet: expectSubnet64(o.subnet, `${f}.subnet`) }),
      capacity: {
        cpu: expectInteger(cap.cpu, `${f}.capacity.cpu`, 0, 1_000_000),
        memoryGb: expectInteger(cap.memoryGb, `${f}.capacity.memoryGb`, 0, 100_000_000),
        diskGb: expectInteger(cap.diskGb, `${f}.capacity.diskGb`, 0, 1_000_000_000),
      },
      check:
        check.kind === 'tcp'
          ? { kind: 'tcp', address: ipv6(check.address, `${f}.check.address`), port: expectInteger(check.port, `${f}.check.port`, 1, 65535) }
          : check.kind === 'self' || check.kind === undefined
            ? { kind: 'self' }
            : (() => {
                throw new ValidationError(`${f}.check.kind`, 'must be "self" or "tcp"');
              })(),
    };
  });
  const reconnect = expectObject(c.reconnect ?? {}, 'config.reconnect');
  expectOnlyKeys(reconnect, ['minSeconds', 'maxSeconds'], 'config.reconnect');
  let vmDriver: AgentConfig['vmDriver'];
  if (c.vmDriver !== undefined) {
    const d = expectObject(c.vmDriver, 'config.vmDriver');
    expectOnlyKeys(d, ['kind', 'node', 'interfaceName'], 'config.vmDriver');
    if (d.kind !== 'lab') throw new ValidationError('config.vmDriver.kind', 'must be "lab" (the only driver so far)');
    const node = expectString(d.node, 'config.vmDriver.node');
    if (!nodes.some((n) => n.id === node && n.subnet !== undefined)) throw new ValidationError('config.vmDriver.node', 'must name a node of this agent that has a subnet');
    vmDriver = { kind: 'lab', node, interfaceName: d.interfaceName === undefined ? 'mycelium' : expectString(d.interfaceName, 'config.vmDriver.interfaceName', { maxLength: 15 }) };
  }
  let gatewayAgent: string | undefined;
  if (c.gatewayAgent !== undefined) {
    gatewayAgent = expectAgentPubKey(c.gatewayAgent, 'config.gatewayAgent');
  }
  let lab: AgentConfig['lab'];
  if (c.lab !== undefined) {
    const l = expectObject(c.lab, 'config.lab');
    if (process.env.HYPHA_LAB !== '1') throw new ValidationError('config.lab', 'scaled time is for the lab only');
    lab = { hourSeconds: expectNumber(l.hourSeconds, 'config.lab.hourSeconds', 0.01, 3600), epochMs: expectInteger(l.epochMs, 'config.lab.epochMs', 0, 8.64e15) };
  }
  const bidding = parseBiddingConfig(c.bidding);
  return {
    gateway,
    gateways,
    ...(gatewayAgent ? { gatewayAgent } : {}),
    ...(c.sourceAddress === undefined ? {} : { sourceAddress: ipv6(c.sourceAddress, 'config.sourceAddress') }),
    keyFile: path(c.keyFile, 'config.keyFile', 'agent.key'),
    stateDir: path(c.stateDir, 'config.stateDir', 'agent-state'),
    nodes,
    ...(vmDriver ? { vmDriver } : {}),
    heartbeatIntervalMs: 1000 * (c.heartbeatIntervalSeconds === undefined ? 15 : expectNumber(c.heartbeatIntervalSeconds, 'config.heartbeatIntervalSeconds', 0.001, 3600)),
    bufferMaxHeartbeats: c.bufferMaxHeartbeats === undefined ? 20_000 : expectInteger(c.bufferMaxHeartbeats, 'config.bufferMaxHeartbeats', 10, 10_000_000),
    reconnectMinMs: 1000 * (reconnect.minSeconds === undefined ? 1 : expectNumber(reconnect.minSeconds, 'config.reconnect.minSeconds', 0.01, 600)),
    reconnectMaxMs: 1000 * (reconnect.maxSeconds === undefined ? 60 : expectNumber(reconnect.maxSeconds, 'config.reconnect.maxSeconds', 0.01, 3600)),
    ...(c.countersignToleranceSeconds === undefined ? {} : { countersignToleranceSeconds: expectNumber(c.countersignToleranceSeconds, 'config.countersignToleranceSeconds', 0, 86_400) }),
    ...(lab ? { lab } : {}),
    ...(bidding ? { bidding } : {}),
  };
}

function ipv6(v: unknown, f: string): string {
  const s = expectString(v, f, { maxLength: 64 });
  try {
    parseIpv6(s);
  } catch (err) {
    throw new ValidationError(f, errorMessage(err));
  }
  return s;
}
