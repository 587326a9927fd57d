// The money log's checkpoint: ReceiptLog's open state as checksummed text, so a start replays only the records after it.
import { digest } from '../store/log-resume.js';
import type { OpenPayoutBatch, PeriodTotals, PeriodTree, ReceiptEntry, ReceiptState, DeploymentHistory, PeriodHead } from './receipt-log.js';
import type { ReceiptLogState } from './receipt-log-state.js';
import { PeriodStarts } from './period-starts.js';

/** Bumped when the encoding changes: a checkpoint of another format is not used (the log is replayed whole). */
export const CHECKPOINT_FORMAT = 1;

const STATES: readonly ReceiptState[] = ['issued', 'arrears', 'paid', 'returned'];

/** What the checkpoint's body holds; bigints as decimal strings, typed arrays as base64. */
interface Body {
  format: number;
  position: number;
  names: readonly string[];
  live: Array<Record<string, unknown>>;
  byState: Record<ReceiptState, string[]>;
  owedPayout: string[];
  deployments: Array<[string, { lastHash: string; starts: number[]; positions: string | null; olderUpTo?: number; upSeconds: number; charged: string; held: string; returned: string }]>;
  periods: Array<[number, { charged: string; shares: string; paidOut: string; arrears: string; returned?: string; receipts: number }]>;
  customerArrears: Array<[string, string]>;
  released: Array<[string, { atMs: number; how: string }]>;
  customerPaid: Array<[string, { paidUpSeconds: number; paidMicros: string; firstPaidAtMs: number | null }]>;
  deploymentArrears: Array<[string, string]>;
  heads: Array<[number, PeriodHead]>;
  recent: Array<[number, TreeBody]>;
  lastHeadHash: string | null;
  receiptCount: number;
  payoutBatched: boolean;
  openPayouts: Array<[string, Omit<OpenPayoutBatch, 'amountMicros'> & { amountMicros: string }]>;
}

type TreeBody = Omit<PeriodTree, 'hashes' | 'farmers' | 'deployments' | 'positions' | 'batches' | 'refusedBy' | 'refusedLeaves' | 'byFarmer'> & {
  hashes: string;
  farmers: string;
  deployments: string;
  positions: string;
  batches: Array<[string, { size: number; root: string; signature: string; leaves: string }]>;
  refusedBy: Array<[string, string]>;
  refusedLeaves: Array<[number, string]>;
};

/**
 * Encodes the open state as `<sha256 hex of the body>\n<body JSON>`: the digest catches a truncated or
 * damaged checkpoint (it is not a signature: the checkpoint is as trusted as the log beside it).
 * `positions: false` leaves every deployment's receipt positions out (a store that reads them back).
 */
export function encodeCheckpoint(s: ReceiptLogState, options: { positions: boolean }): string {
  const ids = (set: Set<ReceiptEntry>): string[] => [...set].map((e) => e.receipt.id);
  const body: Body = {
    format: CHECKPOINT_FORMAT,
    position: s.position,
    names: s.names,
    live: [...s.live.values()].map((e) => ({ ...e, amountMicros: e.amountMicros.toString(), farmerShareMicros: e.farmerShareMicros.toString() })),
    byState: { issued: ids(s.byState.issued), arrears: ids(s.byState.arrears), paid: ids(s.byState.paid), returned: ids(s.byState.returned) },
    owedPayout: ids(s.owedPayout),
    deployments: [...s.deployments].map(([d, h]) => [
      d,
      {
        lastHash: h.lastHash,
        starts: h.periodStartsMs.toRuns(),
        positions: options.positions ? base64(Float64Array.from(h.positions)) : null,
        ...(options.positions ? (h.olderUpTo === undefined ? {} : { olderUpTo: h.olderUpTo }) : { olderUpTo: s.position }),
        upSeconds: h.upSeconds,
        charged: h.chargedMicros.toString(),
        held: h.heldMicros.toString(),
        returned: h.returnedMicros.toString(),
      },
    ]),
    periods: [...s.periods].map(([ms, p]) => [ms, { charged: p.chargedMicros.toString(), shares: p.farmerSharesMicros.toString(), paidOut: p.paidOutMicros.toString(), arrears: p.arrearsMicros.toString(), ...(p.returnedMicros === undefined ? {} : { returned: p.returnedMicros.toString() }), receipts: p.receipts }]),
    customerArrears: [...s.customerArrears].map(([c, v]) => [c, v.toString()]),
    released: [...s.released],
    customerPaid: [...s.customerPaid].map(([c, p]) => [c, { paidUpSeconds: p.paidUpSeconds, paidMicros: p.paidMicros.toString(), firstPaidAtMs: p.firstPaidAtMs }]),
    deploymentArrears: [...s.deploymentArrears].map(([d, v]) => [d, v.toString()]),
    heads: [...s.heads],
    recent: [...s.recent].map(([ms, t]) => [ms, treeBody(t)]),
    lastHeadHash: s.lastHeadHash,
    receiptCount: s.receiptCount,
    payoutBatched: s.payoutBatched,
    openPayouts: [...s.openPayouts].map(([k, b]) => [k, { ...b, amountMicros: b.amountMicros.toString() }]),
  };
  const json = JSON.stringify(body);
  return `${digest(json)}\n${json}`;
}

/** Decodes a checkpoint; null when it is damaged, of another format, or malformed (then the log is replayed whole). */
export function decodeCheckpoint(text: string): ReceiptLogState | null {
  const nl = text.indexOf('\n');
  if (nl !== 64) return null;
  const json = text.slice(nl + 1);
  if (digest(json) !== text.slice(0, nl)) return null;
  try {
    return stateOf(JSON.parse(json) as Body);
  } catch {
    return null;
  }
}

function stateOf(b: Body): ReceiptLogState | null {
  if (b.format !== CHECKPOINT_FORMAT || !Number.isSafeInteger(b.position)) return null;
  const live = new Map<string, ReceiptEntry>();
  for (const j of b.live) {
    const e = { ...j, amountMicros: BigInt(j.amountMicros as string), farmerShareMicros: BigInt(j.farmerShareMicros as string) } as unknown as ReceiptEntry;
    live.set(e.receipt.id, e);
  }
  const entries = (list: readonly string[]): Set<ReceiptEntry> =>
    new Set(
      list.map((id) => {
        const e = live.get(id);
        if (!e) throw new Error(`checkpoint names receipt ${id}, which it does not hold`);
        return e;
      }),
    );
  const byState = Object.fromEntries(STATES.map((st) => [st, entries(b.byState[st])])) as Record<ReceiptState, Set<ReceiptEntry>>;
  const deployments = new Map<string, DeploymentHistory>(
    b.deployments.map(([d, h]) => [
      d,
      {
        lastHash: h.lastHash,
        periodStartsMs: PeriodStarts.fromRuns(h.starts),
        positions: h.positions === null ? [] : Array.from(typed(h.positions, Float64Array)),
        ...(h.olderUpTo === undefined ? {} : { olderUpTo: h.olderUpTo }),
        upSeconds: h.upSeconds,
        chargedMicros: BigInt(h.charged),
        heldMicros: BigInt(h.held),
        returnedMicros: BigInt(h.returned),
      },
    ]),
  );
  for (const [d, h] of b.deployments) if (h.positions === null && h.olderUpTo === undefined) throw new Error(`checkpoint keeps no positions of ${d} and names none to read back`);
  const periods = new Map<number, PeriodTotals>(
    b.periods.map(([ms, p]) => [ms, { chargedMicros: BigInt(p.charged), farmerSharesMicros: BigInt(p.shares), paidOutMicros: BigInt(p.paidOut), arrearsMicros: BigInt(p.arrears), ...(p.returned === undefined ? {} : { returnedMicros: BigInt(p.returned) }), receipts: p.receipts }]),
  );
  return {
    position: b.position,
    live,
    byState,
    owedPayout: entries(b.owedPayout),
    deployments,
    periods,
    customerArrears: new Map(b.customerArrears.map(([c, v]) => [c, BigInt(v)])),
    released: new Map(b.released),
    customerPaid: new Map(b.customerPaid.map(([c, p]) => [c, { paidUpSeconds: p.paidUpSeconds, paidMicros: BigInt(p.paidMicros), firstPaidAtMs: p.firstPaidAtMs }])),
    deploymentArrears: new Map(b.deploymentArrears.map(([d, v]) => [d, BigInt(v)])),
    heads: new Map(b.heads),
    recent: new Map(b.recent.map(([ms, t]) => [ms, treeOf(t)])),
    names: b.names,
    lastHeadHash: b.lastHeadHash,
    receiptCount: b.receiptCount,
    payoutBatched: b.payoutBatched,
    openPayouts: new Map(b.openPayouts.map(([k, p]) => [k, { ...p, amountMicros: BigInt(p.amountMicros) }])),
  };
}

function treeBody(t: PeriodTree): TreeBody {
  return {
    periodStartMs: t.periodStartMs,
    head: t.head,
    headHash: t.headHash,
    size: t.size,
    hashes: base64(t.hashes),
    farmers: base64(t.farmers),
    deployments: base64(t.deployments),
    positions: base64(t.positions),
    batches: [...t.batches].map(([f, x]) => [f, { size: x.size, root: x.root, signature: x.signature, leaves: base64(x.leaves) }]),
    refusedBy: [...t.refusedBy],
    refusedLeaves: [...t.refusedLeaves],
  };
}

function treeOf(t: TreeBody): PeriodTree {
  const tree: PeriodTree = {
    periodStartMs: t.periodStartMs,
    head: t.head,
    headHash: t.headHash,
    size: t.size,
    hashes: typed(t.hashes, Uint8Array),
    farmers: typed(t.farmers, Uint32Array),
    deployments: typed(t.deployments, Uint32Array),
    positions: typed(t.positions, Float64Array),
    batches: new Map(t.batches.map(([f, x]) => [f, { size: x.size, root: x.root, signature: x.signature, leaves: typed(x.leaves, Uint32Array) }])),
    refusedBy: new Map(t.refusedBy),
    refusedLeaves: new Map(t.refusedLeaves),
  };
  if (tree.hashes.length !== 32 * t.size || tree.farmers.length !== t.size || tree.deployments.length !== t.size || tree.positions.length !== t.size) throw new Error(`checkpoint tree of ${t.periodStartMs} has leaves of the wrong length`);
  return tree;
}

function base64(a: Uint8Array | Uint32Array | Float64Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

/** A typed array from base64, copied into its own (aligned) buffer. */
function typed<A extends Uint8Array | Uint32Array | Float64Array>(text: string, kind: { new (buffer: ArrayBuffer): A; readonly BYTES_PER_ELEMENT: number }): A {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % kind.BYTES_PER_ELEMENT !== 0) throw new Error('checkpoint array of a partial element');
  const buffer = new ArrayBuffer(bytes.length);
  new Uint8Array(buffer).set(bytes);
  return new kind(buffer);
}
