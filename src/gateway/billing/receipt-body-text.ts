// The canonical JSON of a v2 receipt body, put together from pieces kept per deployment (and per agent head) instead of written from scratch for every receipt.
import { canonicalJson } from '../../identity/index.js';
import type { ReceiptAgentHead, ReceiptBodyV2 } from '../../protocol/receipt.js';
import { ByteCursor, type BodySink } from './byte-cursor.js';

/**
 * The fields of a body that stay the same for a deployment from period to period, and their JSON
 * in canonical (sorted) key order as one run of bytes in a shared slab (StaticSlabs): the pieces
 * go between the fields that change, at the offsets below.
 */
interface StaticPart {
  readonly customer: string;
  readonly deployment: string;
  readonly farmer: string;
  readonly gateway: string;
  readonly node: string;
  readonly offer: string;
  readonly pricePerHour: string;
  readonly purpose: string;
  readonly unit: string;
  /** The slab holding the pieces, one after another from `at`. */
  readonly slab: Buffer;
  readonly at: number;
  /** End of `,"customer":…,"deployment":…`. */
  readonly customerEnd: number;
  /** End of `,"farmer":…`. */
  readonly farmerEnd: number;
  /** End of `,"gateway":…`. */
  readonly gatewayEnd: number;
  /** End of `,"node":…,"offer":…`. */
  readonly nodeEnd: number;
  /** End of `,"pricePerHour":…,"purpose":…,"unit":…`. */
  readonly end: number;
}

/** Bytes of a slab the static pieces are written into (a new one when a deployment's pieces would not fit). */
const SLAB_BYTES = 16_384;

/** The key texts between the fields, as bytes once. */
const K = {
  agentHead: Buffer.from('{"agentHead":'),
  amount: Buffer.from(',"amount":'),
  farmerShare: Buffer.from(',"farmerShare":'),
  fee: Buffer.from(',"fee":'),
  final: Buffer.from(',"final":'),
  id: Buffer.from(',"id":'),
  issuedAt: Buffer.from(',"issuedAt":'),
  periodEnd: Buffer.from(',"periodEnd":'),
  periodStart: Buffer.from(',"periodStart":'),
  prev: Buffer.from(',"prev":'),
  upSeconds: Buffer.from(',"upSeconds":'),
  end: Buffer.from(',"v":2}'),
  customer: Buffer.from(',"customer":'),
  deployment: Buffer.from(',"deployment":'),
  farmer: Buffer.from(',"farmer":'),
  gateway: Buffer.from(',"gateway":'),
  node: Buffer.from(',"node":'),
  offer: Buffer.from(',"offer":'),
  pricePerHour: Buffer.from(',"pricePerHour":'),
  purpose: Buffer.from(',"purpose":'),
  unit: Buffer.from(',"unit":'),
} as const;
const NULL = Buffer.from('null');

/** Printable ASCII but `"` and `\`: such a string's JSON is itself in quotes (no escapes, no surrogates). */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** canonicalJson of a field that is nearly always a plain string (amounts, ids, instants): those are quoted as they are. */
function quoted(out: BodySink, value: unknown): void {
  if (typeof value === 'string' && PLAIN.test(value)) out.plainQuoted(value);
  else out.utf8(canonicalJson(value));
}

/** canonicalJson of a field that is nearly always a safe integer (up-seconds): such a number's JSON is its decimal text. */
function integerText(out: BodySink, value: unknown): void {
  if (Number.isSafeInteger(value) && !Object.is(value, -0)) out.ascii(String(value));
  else out.utf8(canonicalJson(value));
}

/** Keys of a body this writer takes; anything else (a disputed receipt's `dispute`) goes to canonicalJson whole. */
const KEYS = 21;

/**
 * bench/billing's profile at 30k: canonical JSON was about half of issuing a receipt, most of it
 * re-writing fields that never change for a deployment. This keeps those fields' JSON per
 * deployment (and each agent head's JSON, which all of a farmer's receipts of a period share), as
 * bytes, and writes them with the fields that change, in sorted key order, straight into the
 * close's buffer (no string for the body: bench/billing's allocation profile at 100k had the
 * whole-body strings at ~240 MB a close). The bytes are canonicalJson(body)'s UTF-8
 * (test/gateway/receipt-body-text.test.ts checks it as a property); a cached piece is used only
 * while every field it was made from is the same string.
 */
export class ReceiptBodyText {
  /** Keyed by the deployment's record object: a record replaced (any change) misses, and dropped records are collected. */
  private readonly statics = new WeakMap<object, StaticPart>();
  private readonly heads = new WeakMap<ReceiptAgentHead, Buffer>();
  /** Where a deployment's pieces are first written. */
  private readonly scratch = new ByteCursor(512);
  /**
   * The slab new pieces go into. One run of bytes and one small object a deployment, instead of a
   * Buffer a piece: bench/billing's first close at 100k spent ~0.7 s making 500,000 small Buffers
   * (each a string first), and its scavenges copied them. A slab lives while any of its
   * deployments' records does (as Node's own 8 KiB pool for small Buffers does).
   */
  private slab: Buffer;
  private slabAt = 0;

  /** `slabBytes`: a slab's size (tests make it small, to cross slabs). */
  constructor(private readonly slabBytes = SLAB_BYTES) {
    this.slab = Buffer.allocUnsafe(slabBytes);
  }

  /** Writes canonicalJson(body)'s UTF-8 into `out`, where `owner` is the record the body was made from (the cache key). */
  write(owner: object, body: ReceiptBodyV2, out: BodySink): void {
    if (Object.keys(body).length !== KEYS || body.v !== 2) {
      out.utf8(canonicalJson(body));
      return;
    }
    const s = this.staticOf(owner, body);
    out.bytes(K.agentHead);
    out.bytes(this.headBytes(body.agentHead));
    out.bytes(K.amount);
    quoted(out, body.amount);
    out.range(s.slab, s.at, s.customerEnd);
    out.range(s.slab, s.customerEnd, s.farmerEnd);
    out.bytes(K.farmerShare);
    quoted(out, body.farmerShare);
    out.bytes(K.fee);
    quoted(out, body.fee);
    out.bytes(K.final);
    if (body.final === true) out.ascii('true');
    else if (body.final === false) out.ascii('false');
    else out.utf8(canonicalJson(body.final));
    out.range(s.slab, s.farmerEnd, s.gatewayEnd);
    out.bytes(K.id);
    quoted(out, body.id);
    out.bytes(K.issuedAt);
    quoted(out, body.issuedAt);
    out.range(s.slab, s.gatewayEnd, s.nodeEnd);
    out.bytes(K.periodEnd);
    quoted(out, body.periodEnd);
    out.bytes(K.periodStart);
    quoted(out, body.periodStart);
    out.bytes(K.prev);
    quoted(out, body.prev);
    out.range(s.slab, s.nodeEnd, s.end);
    out.bytes(K.upSeconds);
    integerText(out, body.upSeconds);
    out.bytes(K.end);
  }

  private headBytes(head: ReceiptAgentHead | null): Buffer {
    if (head === null) return NULL;
    let bytes = this.heads.get(head);
    if (bytes === undefined) {
      bytes = Buffer.from(canonicalJson(head), 'utf8');
      this.heads.set(head, bytes);
    }
    return bytes;
  }

  private staticOf(owner: object, b: ReceiptBodyV2): StaticPart {
    const kept = this.statics.get(owner);
    if (
      kept &&
      kept.customer === b.customer &&
      kept.deployment === b.deployment &&
      kept.farmer === b.farmer &&
      kept.gateway === b.gateway &&
      kept.node === b.node &&
      kept.offer === b.offer &&
      kept.pricePerHour === b.pricePerHour &&
      kept.purpose === b.purpose &&
      kept.unit === b.unit
    ) {
      return kept;
    }
    // Written once into a scratch cursor (plain strings quoted as they are, no string per piece), then copied into the slab.
    const w = this.scratch;
    w.at = 0;
    w.bytes(K.customer);
    quoted(w, b.customer);
    w.bytes(K.deployment);
    quoted(w, b.deployment);
    const customerEnd = w.at;
    w.bytes(K.farmer);
    quoted(w, b.farmer);
    const farmerEnd = w.at;
    w.bytes(K.gateway);
    quoted(w, b.gateway);
    const gatewayEnd = w.at;
    w.bytes(K.node);
    quoted(w, b.node);
    w.bytes(K.offer);
    quoted(w, b.offer);
    const nodeEnd = w.at;
    w.bytes(K.pricePerHour);
    quoted(w, b.pricePerHour);
    w.bytes(K.purpose);
    quoted(w, b.purpose);
    w.bytes(K.unit);
    quoted(w, b.unit);
    const length = w.at;
    if (this.slab.length - this.slabAt < length) {
      this.slab = Buffer.allocUnsafe(Math.max(this.slabBytes, length));
      this.slabAt = 0;
    }
    const at = this.slabAt;
    w.data.copy(this.slab, at, 0, length);
    this.slabAt += length;
    const made: StaticPart = {
      customer: b.customer,
      deployment: b.deployment,
      farmer: b.farmer,
      gateway: b.gateway,
      node: b.node,
      offer: b.offer,
      pricePerHour: b.pricePerHour,
      purpose: b.purpose,
      unit: b.unit,
      slab: this.slab,
      at,
      customerEnd: at + customerEnd,
      farmerEnd: at + farmerEnd,
      gatewayEnd: at + gatewayEnd,
      nodeEnd: at + nodeEnd,
      end: at + length,
    };
    this.statics.set(owner, made);
    return made;
  }
}
