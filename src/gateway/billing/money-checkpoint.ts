// The money log's checkpoint: ReceiptLog's open state as checksummed text or bytes, so a start replays only the records after it.
import { createHash } from 'node:crypto';
import { digest } from '../store/log-resume.js';
import { SectionReader, SectionWriter } from './checkpoint-sections.js';
import type { CheckpointBytes, UnchangingChunks } from './money-store.js';
import type { MoneyRecord } from './money-record.js';
import { receiptHash } from '../../protocol/receipt.js';
import type { OpenPayoutBatch, PeriodTotals, PeriodTree, ReceiptEntry, ReceiptState, DeploymentHistory, PeriodHead } from './receipt-types.js';
import type { ReceiptLogState } from './receipt-log-state.js';
import { PeriodStarts } from './period-starts.js';

/** Bumped when the encoding changes: a checkpoint of another format is not used (the log is replayed whole). Format 1 is all JSON (a store that keeps text). */
export const CHECKPOINT_FORMAT = 1;
/**
 * The bytes format (a store that keeps bytes, receipts.log's file): JSON for the small parts, and the
 * deployments' histories and the trees' leaves as binary columns after it. bench/billing at 100k: format 1
 * was ~50 MB of JSON a checkpoint (trees as base64, an object per deployment), hashed and written as one
 * string, 1.2–2.1 s of a close's CPU.
 */
export const CHECKPOINT_FORMAT_BYTES = 2;

/** How a checkpoint is encoded: `positions: false` leaves receipt positions out (a store that reads them back); `bytes`: format 2 as chunks to write in order, else format 1 text. */
export interface CheckpointOptions {
  readonly positions: boolean;
  readonly bytes?: boolean;
}

/** What ReceiptLog calls to encode its open state (tests give one that fails). */
export type CheckpointEncoder = (s: ReceiptLogState, options: CheckpointOptions) => string | CheckpointBytes;

const STATES: readonly ReceiptState[] = ['issued', 'arrears', 'paid', 'returned'];

/** What both formats' JSON holds; bigints as decimal strings. */
interface CommonBody {
  format: number;
  position: number;
  names: readonly string[];
  live: Array<Record<string, unknown>>;
  byState: Record<ReceiptState, string[]>;
  owedPayout: string[];
  periods: Array<[number, { charged: string; shares: string; paidOut: string; arrears: string; returned?: string; receipts: number }]>;
  customerArrears: Array<[string, string]>;
  released: Array<[string, { atMs: number; how: string }]>;
  customerPaid: Array<[string, { paidUpSeconds: number; paidMicros: string; firstPaidAtMs: number | null }]>;
  deploymentArrears: Array<[string, string]>;
  heads: Array<[number, PeriodHead]>;
  lastHeadHash: string | null;
  receiptCount: number;
  payoutBatched: boolean;
  openPayouts: Array<[string, Omit<OpenPayoutBatch, 'amountMicros'> & { amountMicros: string }]>;
}

/** Format 1's body: typed arrays as base64. */
interface Body extends CommonBody {
  deployments: Array<[string, { lastHash: string; starts: number[]; positions: string | null; olderUpTo?: number; upSeconds: number; charged: string; held: string; returned: string }]>;
  recent: Array<[number, TreeBody]>;
}

/**
 * Format 2's JSON part: the deployments as columns (ids, bigints as decimal strings; the rest in
 * sections), the trees without their leaves (in sections), and the byte length of each section.
 */
interface BytesBody extends CommonBody {
  /**
   * `count` deployments; their ids are codes into `names` (a section) and, for ids not among the names,
   * `otherIds` in order; bigint totals are a Float64 column each (charged, held, returned), with those past
   * 2^53 as decimal strings in `bigTotals` by (column × count + index).
   */
  deployments: { count: number; otherIds: string[]; bigTotals: Array<[number, string]>; positions: boolean; oddHashes: Array<[number, string]> };
  recent: Array<[number, TreeMeta]>;
  sections: number[];
}

type TreeMeta = Omit<PeriodTree, 'hashes' | 'farmers' | 'deployments' | 'positions' | 'batches' | 'refusedBy' | 'refusedLeaves' | 'byFarmer'> & {
  batches: Array<[string, { size: number; root: string; signature: string; leaves: string }]>;
  refusedBy: Array<[string, string]>;
  refusedLeaves: Array<[number, string]>;
};

type TreeBody = TreeMeta & { hashes: string; farmers: string; deployments: string; positions: string };

/** The JSON parts both formats share. */
function commonBody(s: ReceiptLogState, format: number): CommonBody {
  const byPosition = format === CHECKPOINT_FORMAT_BYTES;
  const ids = (list: Iterable<ReceiptEntry>): string[] => Array.from(list, (e) => e.receipt.id);
  return {
    format,
    position: s.position,
    names: s.names,
    live: [...s.live.values()].map((e) => liveBody(e, s, byPosition)),
    byState: { issued: ids(s.byState.issued), arrears: ids(s.byState.arrears), paid: ids(s.byState.paid), returned: ids(s.byState.returned) },
    owedPayout: ids(s.owedPayout),
    periods: [...s.periods].map(([ms, p]) => [ms, { charged: p.chargedMicros.toString(), shares: p.farmerSharesMicros.toString(), paidOut: p.paidOutMicros.toString(), arrears: p.arrearsMicros.toString(), ...(p.returnedMicros === undefined ? {} : { returned: p.returnedMicros.toString() }), receipts: p.receipts }]),
    customerArrears: [...s.customerArrears].map(([c, v]) => [c, v.toString()]),
    released: [...s.released],
    customerPaid: [...s.customerPaid].map(([c, p]) => [c, { paidUpSeconds: p.paidUpSeconds, paidMicros: p.paidMicros.toString(), firstPaidAtMs: p.firstPaidAtMs }]),
    deploymentArrears: [...s.deploymentArrears].map(([d, v]) => [d, v.toString()]),
    heads: [...s.heads],
    lastHeadHash: s.lastHeadHash,
    receiptCount: s.receiptCount,
    payoutBatched: s.payoutBatched,
    openPayouts: [...s.openPayouts].map(([k, b]) => [k, { ...b, amountMicros: b.amountMicros.toString() }]),
  };
}

/**
 * A live entry, bigints as decimal strings. In format 2 a v2 receipt of a kept tree is named by its
 * id and its record's position in the log (`at`) instead of written whole: bench/billing at 100k took
 * each close's checkpoint with 25,000 receipts live, ~35 MB of its ~48 MB.
 */
function liveBody(e: ReceiptEntry, s: ReceiptLogState, byPosition: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = { ...e, amountMicros: e.amountMicros.toString(), farmerShareMicros: e.farmerShareMicros.toString() };
  if (!byPosition || e.receipt.v !== 2 || e.index === undefined) return body;
  const at = s.recent.get(e.periodStartMs)?.positions[e.index];
  if (at === undefined) return body;
  delete body.receipt;
  body.id = e.receipt.id;
  body.at = at;
  return body;
}

/** The default encoder: format 2 as chunks when the store keeps bytes, else format 1 text. */
export const encodeCheckpointFor: CheckpointEncoder = (s, options) => (options.bytes === true ? encodeCheckpointBytes(s, options) : encodeCheckpoint(s, options));

/**
 * Encodes the open state as `<sha256 hex of the body>\n<body JSON>` (format 1): the digest catches a truncated or
 * damaged checkpoint (it is not a signature: the checkpoint is as trusted as the log beside it).
 * `positions: false` leaves every deployment's receipt positions out (a store that reads them back).
 */
export function encodeCheckpoint(s: ReceiptLogState, options: { positions: boolean }): string {
  const body: Body = {
    ...commonBody(s, CHECKPOINT_FORMAT),
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
    recent: [...s.recent].map(([ms, t]) => [ms, treeBody(t)]),
  };
  const json = JSON.stringify(body);
  return `${digest(json)}\n${json}`;
}

/**
 * Encodes the open state in format 2, as chunks to write in order: `<sha256 hex of the rest>\n<JSON>\n<sections>`.
 * The trees' leaf arrays are chunks by reference, marked unchanging under their period and head hash (a
 * committed tree's leaves never change); everything else is a copy.
 */
export function encodeCheckpointBytes(s: ReceiptLogState, options: { positions: boolean }): CheckpointBytes {
  const sections = new SectionWriter();
  const deployments = deploymentColumns(s, options.positions, sections);
  const recent: Array<[number, TreeMeta]> = [];
  // Chunk indexes in the answer: the digest line and the JSON part come first.
  const unchanging: UnchangingChunks[] = [];
  for (const [ms, t] of s.recent) {
    recent.push([ms, treeMeta(t)]);
    const from = 2 + sections.chunks.length;
    sections.add(t.hashes);
    sections.add(t.farmers);
    sections.add(t.deployments);
    sections.add(t.positions);
    unchanging.push({ from, to: from + 4, key: `tree-${ms}-${t.headHash}` });
  }
  const body: BytesBody = { ...commonBody(s, CHECKPOINT_FORMAT_BYTES), deployments, recent, sections: sections.lengths };
  const rest = [Buffer.from(`${JSON.stringify(body)}\n`, 'utf8'), ...sections.chunks];
  const hash = createHash('sha256');
  for (const chunk of rest) hash.update(chunk);
  return { bytes: [Buffer.from(`${hash.digest('hex')}\n`, 'latin1'), ...rest], unchanging };
}

const LOWER_HEX_HASH = /^[0-9a-f]{64}$/;

/** The deployments' histories as columns: the few strings in the JSON part, the rest as sections (in the order deploymentsOf reads them). */
function deploymentColumns(s: ReceiptLogState, positions: boolean, sections: SectionWriter): BytesBody['deployments'] {
  const n = s.deployments.size;
  let startsTotal = 0;
  let positionsTotal = 0;
  for (const h of s.deployments.values()) {
    startsTotal += h.periodStartsMs.runCount() * 3;
    positionsTotal += h.positions.length;
  }
  const codes = new Map<string, number>();
  s.names.forEach((name, i) => codes.set(name, i));
  const idCodes = new Int32Array(n);
  const otherIds: string[] = [];
  const totals = new Float64Array(3 * n);
  const bigTotals: Array<[number, string]> = [];
  const oddHashes: Array<[number, string]> = [];
  const hashes = Buffer.alloc(32 * n);
  const up = new Float64Array(n);
  const older = new Float64Array(n);
  const startCounts = new Uint32Array(n);
  const starts = new Float64Array(startsTotal);
  const positionCounts = new Uint32Array(positions ? n : 0);
  const kept = new Float64Array(positions ? positionsTotal : 0);
  const total = (column: number, i: number, v: bigint): void => {
    const at = column * n + i;
    if (v >= MIN_SAFE && v <= MAX_SAFE) totals[at] = Number(v);
    else {
      totals[at] = Number.NaN;
      bigTotals.push([at, v.toString()]);
    }
  };
  let i = 0;
  let st = 0;
  let ps = 0;
  for (const [d, h] of s.deployments) {
    const code = codes.get(d);
    idCodes[i] = code ?? -1;
    if (code === undefined) otherIds.push(d);
    // Receipt hashes are lowercase hex; any other string is kept as it is, so it reads back unchanged.
    if (LOWER_HEX_HASH.test(h.lastHash)) hashes.write(h.lastHash, 32 * i, 32, 'hex');
    else oddHashes.push([i, h.lastHash]);
    up[i] = h.upSeconds;
    older[i] = positions ? (h.olderUpTo ?? Number.NaN) : s.position;
    st = h.periodStartsMs.writeRuns(starts, st);
    startCounts[i] = h.periodStartsMs.runCount() * 3;
    if (positions) {
      positionCounts[i] = h.positions.length;
      for (const p of h.positions) kept[ps++] = p;
    }
    total(0, i, h.chargedMicros);
    total(1, i, h.heldMicros);
    total(2, i, h.returnedMicros);
    i++;
  }
  sections.add(new Uint8Array(idCodes.buffer));
  sections.add(hashes);
  sections.add(up);
  sections.add(older);
  sections.add(totals);
  sections.add(startCounts);
  sections.add(starts);
  if (positions) {
    sections.add(positionCounts);
    sections.add(kept);
  }
  return { count: n, otherIds, bigTotals, positions, oddHashes };
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Decodes a checkpoint (format 1 as text or bytes, format 2 as bytes); null when it is damaged, of another format, or malformed (then the log is replayed whole). */
export function decodeCheckpoint(checkpoint: string | Uint8Array, read?: ReadRecords): ReceiptLogState | null {
  if (typeof checkpoint === 'string') {
    const nl = checkpoint.indexOf('\n');
    if (nl !== 64) return null;
    const json = checkpoint.slice(nl + 1);
    if (digest(json) !== checkpoint.slice(0, nl)) return null;
    try {
      return stateOf(JSON.parse(json) as Body, null, read);
    } catch {
      return null;
    }
  }
  const bytes = Buffer.from(checkpoint.buffer, checkpoint.byteOffset, checkpoint.byteLength);
  if (bytes.length < 65 || bytes[64] !== 0x0a) return null;
  const rest = bytes.subarray(65);
  if (createHash('sha256').update(rest).digest('hex') !== bytes.toString('latin1', 0, 64)) return null;
  try {
    // Format 1 is one line of JSON; format 2's JSON ends at the first newline (JSON has no raw newline), its sections follow.
    const nl = rest.indexOf(0x0a);
    if (nl < 0) return stateOf(JSON.parse(rest.toString('utf8')) as Body, null, read);
    const body = JSON.parse(rest.toString('utf8', 0, nl)) as BytesBody;
    if (body.format !== CHECKPOINT_FORMAT_BYTES) return null;
    return stateOf(body, new SectionReader(rest.subarray(nl + 1), body.sections), read);
  } catch {
    return null;
  }
}

/**
 * The log positions a format 2 checkpoint names live receipts by (`at`), so a store whose reads are async
 * can fetch them before decodeCheckpoint reads them synchronously; none for any other checkpoint (one
 * that is damaged is refused by decodeCheckpoint, which checks the digest and each record it is handed).
 */
export function namedPositions(checkpoint: Uint8Array): number[] {
  const bytes = Buffer.from(checkpoint.buffer, checkpoint.byteOffset, checkpoint.byteLength);
  const nl = bytes.indexOf(0x0a, 65);
  if (bytes.length < 65 || bytes[64] !== 0x0a || nl < 0) return [];
  try {
    const body = JSON.parse(bytes.toString('utf8', 65, nl)) as Partial<BytesBody>;
    if (body.format !== CHECKPOINT_FORMAT_BYTES || !Array.isArray(body.live)) return [];
    return body.live.flatMap((j) => (typeof j.at === 'number' && Number.isSafeInteger(j.at) ? [j.at] : []));
  } catch {
    return [];
  }
}

/** Reads the money records at some positions of the log before the checkpoint (the store's). */
export type ReadRecords = (positions: readonly number[]) => MoneyRecord[];

function stateOf(b: Body | BytesBody, sections: SectionReader | null, read: ReadRecords | undefined): ReceiptLogState | null {
  if (b.format !== (sections ? CHECKPOINT_FORMAT_BYTES : CHECKPOINT_FORMAT) || !Number.isSafeInteger(b.position)) return null;
  const live = new Map<string, ReceiptEntry>();
  const receipts = receiptsAt(b.live, b.position, read);
  for (const j of b.live) {
    const { id: _id, at: _at, ...fields } = j;
    const receipt = receipts.get(j) ?? j.receipt;
    const e = { receipt, ...fields, amountMicros: BigInt(j.amountMicros as string), farmerShareMicros: BigInt(j.farmerShareMicros as string) } as unknown as ReceiptEntry;
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
  const deployments = sections ? deploymentsOf((b as BytesBody).deployments, b.names, sections) : deploymentsOfText((b as Body).deployments);
  const recent = sections ? new Map((b as BytesBody).recent.map(([ms, t]) => [ms, treeFrom(t, sections.take(Uint8Array, 32 * t.size), sections.take(Uint32Array, t.size), sections.take(Uint32Array, t.size), sections.take(Float64Array, t.size))])) : new Map((b as Body).recent.map(([ms, t]) => [ms, treeOf(t)]));
  sections?.done();
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
    recent,
    names: b.names,
    lastHeadHash: b.lastHeadHash,
    receiptCount: b.receiptCount,
    payoutBatched: b.payoutBatched,
    openPayouts: new Map(b.openPayouts.map(([k, p]) => [k, { ...p, amountMicros: BigInt(p.amountMicros) }])),
  };
}

/**
 * The receipts of live entries named by position (`at`), read back from the log in one go; each must be
 * a receipt record of that id and hash standing before the checkpoint's position, or the checkpoint is not used.
 */
function receiptsAt(list: ReadonlyArray<Record<string, unknown>>, position: number, read: ReadRecords | undefined): Map<Record<string, unknown>, unknown> {
  const named = list.filter((j) => j.at !== undefined);
  const out = new Map<Record<string, unknown>, unknown>();
  if (named.length === 0) return out;
  if (!read) throw new Error('checkpoint names live receipts by position, and the store cannot read them');
  const positions = named.map((j) => {
    const at = j.at;
    if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0 || at > position) throw new Error('checkpoint names a live receipt at a bad position');
    return at;
  });
  const records = read(positions);
  named.forEach((j, k) => {
    const r = records[k];
    if (r?.t !== 'receipt' || r.receipt.id !== j.id || (r.hash ?? receiptHash(r.receipt)) !== j.hash) throw new Error(`checkpoint names receipt ${String(j.id)} at ${String(j.at)}, where the log holds another record`);
    out.set(j, r.receipt);
  });
  return out;
}

/** Format 1's deployments. */
function deploymentsOfText(list: Body['deployments']): Map<string, DeploymentHistory> {
  const deployments = new Map<string, DeploymentHistory>(
    list.map(([d, h]) => [
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
  for (const [d, h] of list) if (h.positions === null && h.olderUpTo === undefined) throw new Error(`checkpoint keeps no positions of ${d} and names none to read back`);
  return deployments;
}

/** Format 2's deployments: the JSON part's columns and the sections deploymentColumns wrote. */
function deploymentsOf(d: BytesBody['deployments'], names: readonly string[], sections: SectionReader): Map<string, DeploymentHistory> {
  const n = d.count;
  if (!Number.isSafeInteger(n) || n < 0) throw new Error('checkpoint names a bad deployment count');
  const idCodes = new Int32Array(sections.take(Uint8Array, 4 * n).buffer);
  const hashes = Buffer.from(sections.take(Uint8Array, 32 * n).buffer);
  const up = sections.take(Float64Array, n);
  const older = sections.take(Float64Array, n);
  const totals = sections.take(Float64Array, 3 * n);
  const startCounts = sections.take(Uint32Array, n);
  const starts = sections.take(Float64Array);
  const positionCounts = d.positions ? sections.take(Uint32Array, n) : null;
  const kept = d.positions ? sections.take(Float64Array) : null;
  const odd = new Map(d.oddHashes);
  const big = new Map(d.bigTotals);
  const total = (column: number, i: number): bigint => {
    const at = column * n + i;
    const v = totals[at] as number;
    if (Number.isNaN(v)) {
      const text = big.get(at);
      if (text === undefined) throw new Error('checkpoint total missing');
      return BigInt(text);
    }
    if (!Number.isSafeInteger(v)) throw new Error('checkpoint total not a whole number');
    return BigInt(v);
  };
  const out = new Map<string, DeploymentHistory>();
  let other = 0;
  let st = 0;
  let ps = 0;
  for (let i = 0; i < n; i++) {
    const code = idCodes[i] as number;
    const id = code >= 0 ? names[code] : d.otherIds[other++];
    if (id === undefined) throw new Error('checkpoint deployment id out of range');
    const runs = startCounts[i] as number;
    if (st + runs > starts.length) throw new Error('checkpoint period starts run past their section');
    const count = positionCounts ? (positionCounts[i] as number) : 0;
    if (kept && ps + count > kept.length) throw new Error('checkpoint positions run past their section');
    const olderUpTo = older[i] as number;
    if (!d.positions && Number.isNaN(olderUpTo)) throw new Error(`checkpoint keeps no positions of ${id} and names none to read back`);
    out.set(id, {
      lastHash: odd.get(i) ?? hashes.toString('hex', 32 * i, 32 * i + 32),
      periodStartsMs: PeriodStarts.fromRuns(Array.from(starts.subarray(st, st + runs))),
      positions: kept ? Array.from(kept.subarray(ps, ps + count)) : [],
      ...(Number.isNaN(olderUpTo) ? {} : { olderUpTo }),
      upSeconds: up[i] as number,
      chargedMicros: total(0, i),
      heldMicros: total(1, i),
      returnedMicros: total(2, i),
    });
    st += runs;
    ps += count;
  }
  if (other !== d.otherIds.length || st !== starts.length || (kept && ps !== kept.length)) throw new Error('checkpoint deployment sections hold more than their counts');
  return out;
}

function treeMeta(t: PeriodTree): TreeMeta {
  return {
    periodStartMs: t.periodStartMs,
    head: t.head,
    headHash: t.headHash,
    size: t.size,
    batches: [...t.batches].map(([f, x]) => [f, { size: x.size, root: x.root, signature: x.signature, leaves: base64(x.leaves) }]),
    refusedBy: [...t.refusedBy],
    refusedLeaves: [...t.refusedLeaves],
  };
}

function treeBody(t: PeriodTree): TreeBody {
  return { ...treeMeta(t), hashes: base64(t.hashes), farmers: base64(t.farmers), deployments: base64(t.deployments), positions: base64(t.positions) };
}

function treeOf(t: TreeBody): PeriodTree {
  return treeFrom(t, typed(t.hashes, Uint8Array), typed(t.farmers, Uint32Array), typed(t.deployments, Uint32Array), typed(t.positions, Float64Array));
}

function treeFrom(t: TreeMeta, hashes: Uint8Array, farmers: Uint32Array, deployments: Uint32Array, positions: Float64Array): PeriodTree {
  const tree: PeriodTree = {
    periodStartMs: t.periodStartMs,
    head: t.head,
    headHash: t.headHash,
    size: t.size,
    hashes,
    farmers,
    deployments,
    positions,
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
