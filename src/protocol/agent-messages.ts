// The WebSocket protocol between a farmer's agent and the gateway (`/v1/agent`): message types and validators.
import { errorMessage } from '../identity/error-message.js';
import type { Capacity } from './offer.js';
import type { Heartbeat, NodeReport, VmReport } from './heartbeat.js';
import { readHeartbeatFast, type HeartbeatLimits } from './heartbeat-fast-parse.js';
import {
  ValidationError,
  expectArray,
  expectBoolean,
  expectInteger,
  expectNumber,
  expectObject,
  expectString,
  optionalString,
} from './validate.js';
import type { Receipt, ReceiptBodyV2 } from './receipt.js';
import { MAX_SEALED_BASE64, MAX_SECRETS, SECRET_NAME, type SealedSecret } from './sealed-secret.js';
import type { SignedTreeHead } from './tree-head.js';
import { parseMyceliumAddress } from '../identity/index.js';
import { parseCapacityRequest, parseSignedBid, type CapacityRequest, type SignedBid } from './bid.js';

/** Identifiers of nodes, VMs, commands and receipts. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** Most nodes one agent may speak for. */
export const MAX_NODES_PER_AGENT = 64;
/** Most VMs one heartbeat may report. */
export const MAX_VMS_PER_HEARTBEAT = 4096;
/** Receipts per countersign-batch message (about 1 MB): a farmer's batch is sent in chunks of this size. */
export const MAX_RECEIPTS_PER_BATCH_MESSAGE = 1000;
/** Receipts an agent may name as refused in one batch answer; more disagreement refuses the whole batch. */
export const MAX_REFUSED_PER_BATCH = 1000;

/** WebSocket close codes the gateway uses, so an agent can tell a retry from a configuration error. */
export const CLOSE = {
  badMessage: 4400,
  authFailed: 4401,
  notApproved: 4403,
  authTimeout: 4408,
  replaced: 4409,
  shuttingDown: 1001,
} as const;

/** A node an agent speaks for, with its capacity for agent-run VMs (zero when it runs none). */
export interface HelloNode {
  readonly id: string;
  readonly capacity: Capacity;
}

/** A VM the gateway placed on one of the agent's nodes: the agent probes it every heartbeat. */
export interface VmAssignment {
  readonly id: string;
  readonly node: string;
  readonly myceliumIp: string;
  readonly port: number;
}

/** Commands the gateway sends for agent-run VMs. */
export type CommandOp = 'deploy' | 'pause' | 'resume' | 'destroy' | 'status' | 'set-ssh-keys';

// ---- gateway -> agent ----

export interface ChallengeMessage {
  readonly type: 'challenge';
  readonly nonce: string;
  readonly gateway: string;
  readonly atMs: number;
}

export interface WelcomeMessage {
  readonly type: 'welcome';
  readonly agent: string;
  /** The first heartbeat seq the gateway has not durably counted: replay from here. */
  readonly resumeFromSeq: number;
  /** The chain head just before resumeFromSeq. */
  readonly head: string;
  /** Heartbeats up to this seq are durably counted: the agent may forget them. */
  readonly ackedSeq: number;
  readonly heartbeatIntervalMs: number;
  readonly periodMs: number;
  readonly vms: readonly VmAssignment[];
}

export interface AckMessage {
  readonly type: 'ack';
  /** Every heartbeat up to and including seq is durably counted; the agent may forget them. */
  readonly seq: number;
}

export interface VmsMessage {
  readonly type: 'vms';
  readonly vms: readonly VmAssignment[];
}

export interface CommandMessage {
  readonly type: 'command';
  readonly id: string;
  readonly op: CommandOp;
  readonly vm: { readonly id: string; readonly node: string; readonly sshKeys?: readonly string[]; readonly seedHex?: string; readonly secrets?: readonly SealedSecret[] };
}

export interface CountersignMessage {
  readonly type: 'countersign';
  readonly receipt: Receipt;
}

/**
 * Part of a farmer's receipts in a period's tree (in tree order), under the signed tree head;
 * `offset` and `total` say where this chunk lies in the farmer's batch.
 */
export interface CountersignBatchMessage {
  readonly type: 'countersign-batch';
  readonly treeHead: SignedTreeHead;
  readonly total: number;
  readonly offset: number;
  readonly receipts: readonly ReceiptBodyV2[];
}

/** A customer's capacity request, sent to an agent whose nodes can fit it: the agent may answer with a bid per node. */
export interface CapacityRequestMessage {
  readonly type: 'capacity-request';
  readonly request: CapacityRequest;
}

export type GatewayMessage = ChallengeMessage | WelcomeMessage | AckMessage | VmsMessage | CommandMessage | CountersignMessage | CountersignBatchMessage | CapacityRequestMessage;

// ---- agent -> gateway ----

export interface HelloMessage {
  readonly type: 'hello';
  readonly agent: string;
  readonly nodes: readonly HelloNode[];
  /** base64 ed25519 signature of the agent-auth statement {agent, gateway, nonce, nodes: ids}. */
  readonly signature: string;
}

export interface HeartbeatMessage extends Heartbeat {
  readonly type: 'heartbeat';
  /** The chain head before this heartbeat, as the agent has it. */
  readonly prev: string;
}

export interface ChainHeadMessage {
  readonly type: 'chain-head';
  readonly periodStartMs: number;
  readonly periodEndMs: number;
  readonly seq: number;
  readonly head: string;
  readonly signature: string;
}

export interface ResultMessage {
  readonly type: 'result';
  readonly id: string;
  readonly ok: boolean;
  readonly vm?: { readonly id: string; readonly myceliumIp: string; readonly state: string };
  readonly error?: string;
}

export interface CountersignedMessage {
  readonly type: 'countersigned';
  readonly receiptId: string;
  readonly signature: string;
}

export interface CountersignRefusedMessage {
  readonly type: 'countersign-refused';
  readonly receiptId: string;
  readonly reason: string;
}

/** One countersignature over the farmer's batch: the receipts it agrees with (all but `refused`), by their Merkle root. */
export interface BatchCountersignedMessage {
  readonly type: 'batch-countersigned';
  /** treeHeadHash of the head the batch came under. */
  readonly treeHead: string;
  readonly size: number;
  readonly root: string;
  readonly signature: string;
  readonly refused: ReadonlyArray<{ readonly receiptId: string; readonly reason: string }>;
}

export interface BatchCountersignRefusedMessage {
  readonly type: 'batch-countersign-refused';
  readonly treeHead: string;
  readonly reason: string;
}

/** The agent saw a key authenticate on one of its VMs (access escrow: the customer got in). */
export interface VmLoginMessage {
  readonly type: 'vm-login';
  /** The deployment id of the VM. */
  readonly vm: string;
  /** The OpenSSH SHA256 fingerprint of the key that logged in ("SHA256:…"). */
  readonly keyFingerprint: string;
  readonly atMs: number;
}

/** A farmer's signed bid for a capacity request. */
export interface BidMessage {
  readonly type: 'bid';
  readonly bid: SignedBid;
}

export type AgentMessage = HelloMessage | HeartbeatMessage | ChainHeadMessage | ResultMessage | CountersignedMessage | CountersignRefusedMessage | BatchCountersignedMessage | BatchCountersignRefusedMessage | VmLoginMessage | BidMessage;

const HEX64 = /^[0-9a-f]{64}$/;
/** Longest round trip a VM report may carry (10 minutes). */
const MAX_RTT_MICROS = 600_000_000;
/** Latest `atMs` a message may carry (the largest Date, year 275,760). */
const MAX_AT_MS = 8.64e15;
/** The full reader's heartbeat checks, for its fast path (heartbeat-fast-parse.ts). */
export const HEARTBEAT_LIMITS: HeartbeatLimits = { idPattern: ID_PATTERN, headPattern: HEX64, maxNodes: MAX_NODES_PER_AGENT, maxVms: MAX_VMS_PER_HEARTBEAT, maxRttMicros: MAX_RTT_MICROS, maxAtMs: MAX_AT_MS };
const id = (v: unknown, f: string): string => expectString(v, f, { maxLength: 64, pattern: ID_PATTERN, patternName: 'an id of letters, digits and ._:-' });
const seq = (v: unknown, f: string): number => expectInteger(v, f, 0, Number.MAX_SAFE_INTEGER);
const ms = (v: unknown, f: string): number => expectInteger(v, f, 0, MAX_AT_MS);

/**
 * A VM address a farmer's agent reports: a 400::/7 address in its normal text form, or "" for
 * a VM that has none (gone). Whether it lies in the node's /64 is the gateway's check, which
 * knows the node's /64s (agents/agent-hub.ts).
 */
function vmAddressField(v: unknown, f: string): string {
  if (v === '') return '';
  const text = expectString(v, f, { maxLength: 45 });
  try {
    return parseMyceliumAddress(text).address;
  } catch (err) {
    throw new ValidationError(f, `must be a Mycelium address (400::/7) or "": ${errorMessage(err)}`);
  }
}

/** A message's text as a JSON object; ValidationError when it is not one. */
function messageObject(text: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ValidationError('message', 'is not JSON');
  }
  return expectObject(raw, 'message');
}

/**
 * The full reader of a heartbeat message, which names the first bad field. parseAgentMessage
 * tries readHeartbeatFast first; exported so a test can check both accept the same messages.
 */
export function readHeartbeatChecked(m: Record<string, unknown>): HeartbeatMessage {
  return {
    type: 'heartbeat',
    seq: seq(m.seq, 'seq'),
    atMs: ms(m.atMs, 'atMs'),
    prev: expectString(m.prev, 'prev', { pattern: HEX64, patternName: '64 hex digits' }),
    nodes: expectArray(m.nodes, 'nodes', 0, MAX_NODES_PER_AGENT, (n, f): NodeReport => {
      const o = expectObject(n, f);
      return { id: id(o.id, `${f}.id`), up: expectBoolean(o.up, `${f}.up`) };
    }),
    vms: expectArray(m.vms, 'vms', 0, MAX_VMS_PER_HEARTBEAT, (n, f): VmReport => {
      const o = expectObject(n, f);
      const report: VmReport = { id: id(o.id, `${f}.id`), reachable: expectBoolean(o.reachable, `${f}.reachable`) };
      return o.rttMicros === undefined ? report : { ...report, rttMicros: expectInteger(o.rttMicros, `${f}.rttMicros`, 0, MAX_RTT_MICROS) };
    }),
  };
}

/** Parses an agent's message text; ValidationError names the bad field. */
export function parseAgentMessage(text: string): AgentMessage {
  const m = messageObject(text);
  switch (m.type) {
    case 'hello':
      return {
        type: 'hello',
        agent: expectString(m.agent, 'agent', { maxLength: 64 }),
        nodes: expectArray(m.nodes, 'nodes', 1, MAX_NODES_PER_AGENT, (n, f) => {
          const o = expectObject(n, f);
          const c = expectObject(o.capacity ?? { cpu: 0, memoryGb: 0, diskGb: 0 }, `${f}.capacity`);
          return {
            id: id(o.id, `${f}.id`),
            capacity: {
              cpu: expectInteger(c.cpu, `${f}.capacity.cpu`, 0, 1_000_000),
              memoryGb: expectInteger(c.memoryGb, `${f}.capacity.memoryGb`, 0, 100_000_000),
              diskGb: expectInteger(c.diskGb, `${f}.capacity.diskGb`, 0, 1_000_000_000),
            },
          };
        }),
        signature: expectString(m.signature, 'signature', { maxLength: 100 }),
      };
    case 'heartbeat':
      return readHeartbeatFast(m, HEARTBEAT_LIMITS) ?? readHeartbeatChecked(m);
    case 'chain-head':
      return {
        type: 'chain-head',
        periodStartMs: ms(m.periodStartMs, 'periodStartMs'),
        periodEndMs: ms(m.periodEndMs, 'periodEndMs'),
        seq: seq(m.seq, 'seq'),
        head: expectString(m.head, 'head', { pattern: HEX64, patternName: '64 hex digits' }),
        signature: expectString(m.signature, 'signature', { maxLength: 100 }),
      };
    case 'result': {
      const ok = expectBoolean(m.ok, 'ok');
      const vm = m.vm === undefined ? undefined : expectObject(m.vm, 'vm');
      return {
        type: 'result',
        id: id(m.id, 'id'),
        ok,
        ...(vm ? { vm: { id: id(vm.id, 'vm.id'), myceliumIp: vmAddressField(vm.myceliumIp, 'vm.myceliumIp'), state: expectString(vm.state, 'vm.state', { maxLength: 16 }) } } : {}),
        ...(m.error === undefined ? {} : { error: expectString(m.error, 'error', { maxLength: 500 }) }),
      };
    }
    case 'countersigned':
      return { type: 'countersigned', receiptId: id(m.receiptId, 'receiptId'), signature: expectString(m.signature, 'signature', { maxLength: 100 }) };
    case 'countersign-refused':
      return { type: 'countersign-refused', receiptId: id(m.receiptId, 'receiptId'), reason: expectString(m.reason, 'reason', { maxLength: 500 }) };
    case 'batch-countersigned':
      return {
        type: 'batch-countersigned',
        treeHead: expectString(m.treeHead, 'treeHead', { pattern: HEX64, patternName: '64 hex digits' }),
        size: expectInteger(m.size, 'size', 1, Number.MAX_SAFE_INTEGER),
        root: expectString(m.root, 'root', { pattern: HEX64, patternName: '64 hex digits' }),
        signature: expectString(m.signature, 'signature', { maxLength: 100 }),
        refused: expectArray(m.refused, 'refused', 0, MAX_REFUSED_PER_BATCH, (v, f) => {
          const o = expectObject(v, f);
          return { receiptId: id(o.receiptId, `${f}.receiptId`), reason: expectString(o.reason, `${f}.reason`, { maxLength: 200 }) };
        }),
      };
    case 'bid':
      return { type: 'bid', bid: parseSignedBid(m.bid, 'bid') };
    case 'batch-countersign-refused':
      return { type: 'batch-countersign-refused', treeHead: expectString(m.treeHead, 'treeHead', { pattern: HEX64, patternName: '64 hex digits' }), reason: expectString(m.reason, 'reason', { maxLength: 500 }) };
    case 'vm-login':
      return { type: 'vm-login', vm: id(m.vm, 'vm'), keyFingerprint: expectString(m.keyFingerprint, 'keyFingerprint', { pattern: /^SHA256:[A-Za-z0-9+/]{43}$/, patternName: 'an OpenSSH SHA256 fingerprint' }), atMs: ms(m.atMs, 'atMs') };
    default:
      throw new ValidationError('type', `unknown message type ${JSON.stringify(m.type)}`);
  }
}

/** Parses a gateway's message text (the agent trusts the gateway's TLS-less Mycelium link, not its JSON). */
export function parseGatewayMessage(text: string): GatewayMessage {
  const m = messageObject(text);
  const assignment = (v: unknown, f: string): VmAssignment => {
    const o = expectObject(v, f);
    return {
      id: id(o.id, `${f}.id`),
      node: id(o.node, `${f}.node`),
      myceliumIp: expectString(o.myceliumIp, `${f}.myceliumIp`, { maxLength: 45 }),
      port: expectInteger(o.port, `${f}.port`, 1, 65535),
    };
  };
  switch (m.type) {
    case 'challenge':
      return { type: 'challenge', nonce: expectString(m.nonce, 'nonce', { maxLength: 64 }), gateway: expectString(m.gateway, 'gateway', { maxLength: 64 }), atMs: ms(m.atMs, 'atMs') };
    case 'welcome':
      return {
        type: 'welcome',
        agent: expectString(m.agent, 'agent', { maxLength: 64 }),
        resumeFromSeq: seq(m.resumeFromSeq, 'resumeFromSeq'),
        head: expectString(m.head, 'head', { pattern: HEX64 }),
        ackedSeq: seq(m.ackedSeq, 'ackedSeq'),
        heartbeatIntervalMs: expectNumber(m.heartbeatIntervalMs, 'heartbeatIntervalMs', 1, 86_400_000),
        periodMs: expectNumber(m.periodMs, 'periodMs', 1, 31 * 86_400_000),
        vms: expectArray(m.vms, 'vms', 0, 100_000, assignment),
      };
    case 'ack':
      return { type: 'ack', seq: seq(m.seq, 'seq') };
    case 'vms':
      return { type: 'vms', vms: expectArray(m.vms, 'vms', 0, 100_000, assignment) };
    case 'command': {
      const vm = expectObject(m.vm, 'vm');
      const op = expectString(m.op, 'op') as CommandOp;
      if (!['deploy', 'pause', 'resume', 'destroy', 'status', 'set-ssh-keys'].includes(op)) throw new ValidationError('op', `unknown command ${JSON.stringify(op)}`);
      return {
        type: 'command',
        id: id(m.id, 'id'),
        op,
        vm: {
          id: id(vm.id, 'vm.id'),
          node: id(vm.node, 'vm.node'),
          ...(vm.sshKeys === undefined ? {} : { sshKeys: expectArray(vm.sshKeys, 'vm.sshKeys', 0, 64, (k, f) => expectString(k, f, { maxLength: 8192 })) }),
          ...(optionalString(vm.seedHex, 'vm.seedHex', { pattern: /^[0-9a-f]{12}$/ }) === undefined ? {} : { seedHex: vm.seedHex as string }),
          ...(vm.secrets === undefined
            ? {}
            : {
                secrets: expectArray(vm.secrets, 'vm.secrets', 0, MAX_SECRETS, (s, f) => {
                  const o = expectObject(s, f);
                  return { name: expectString(o.name, `${f}.name`, { pattern: SECRET_NAME, patternName: 'a file name' }), box: expectString(o.box, `${f}.box`, { maxLength: MAX_SEALED_BASE64 }) };
                }),
              }),
        },
      };
    }
    case 'capacity-request':
      return { type: 'capacity-request', request: parseCapacityRequest(m.request, 'request') };
    case 'countersign':
      return { type: 'countersign', receipt: expectObject(m.receipt, 'receipt') as unknown as Receipt };
    case 'countersign-batch': {
      // Shapes only: the agent checks the head's signature and each receipt before it signs anything.
      const total = expectInteger(m.total, 'total', 1, Number.MAX_SAFE_INTEGER);
      return {
        type: 'countersign-batch',
        treeHead: expectObject(m.treeHead, 'treeHead') as unknown as SignedTreeHead,
        total,
        offset: expectInteger(m.offset, 'offset', 0, total - 1),
        receipts: expectArray(m.receipts, 'receipts', 1, MAX_RECEIPTS_PER_BATCH_MESSAGE, (v, f) => expectObject(v, f) as unknown as ReceiptBodyV2),
      };
    }
    default:
      throw new ValidationError('type', `unknown message type ${JSON.stringify(m.type)}`);
  }
}

/** The text of a WebSocket message as `ws` delivers it (a Buffer, an ArrayBuffer, or fragments). */
export function messageText(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
