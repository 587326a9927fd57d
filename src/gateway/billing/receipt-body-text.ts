// The canonical JSON of a v2 receipt body, put together from pieces kept per deployment (and per agent head) instead of written from scratch for every receipt.
import { canonicalJson } from '../../identity/index.js';
import type { ReceiptAgentHead, ReceiptBodyV2 } from '../../protocol/receipt.js';
import { ByteCursor, isPlain, type BodySink } from './byte-cursor.js';

/** The fields of a body that stay the same for a deployment from period to period, and their JSON in canonical (sorted) key order, in the pieces that go between the fields that change. */
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
  /** `,"customer":…,"deployment":…` as UTF-8 (likewise below): views of one run of bytes in a shared slab. */
  readonly customerDeployment: Buffer;
  readonly farmerText: Buffer;
  readonly gatewayText: Buffer;
  /** `,"node":…,"offer":…` */
  readonly nodeOffer: Buffer;
  /** `,"pricePerHour":…,"purpose":…,"unit":…` */
  readonly priceToUnit: Buffer;
}

/** Bytes of a slab the deployments' own pieces are written into (a new one when a piece would not fit). */
const SLAB_BYTES = 16_384;
/** Shared pieces kept of each kind (farmers, nodes × offers, prices, gateways); past it, they are made again. */
const SHARED_PIECES = 65_536;

/** Pieces kept by a key of the fields they are made of, at most `max` (all dropped when full: a rare refill, never unbounded). */
class SharedPieces {
  private readonly pieces = new Map<string, Buffer>();

  constructor(private readonly max: number) {}

  piece(key: string, text: () => string): Buffer {
    let bytes = this.pieces.get(key);
    if (bytes === undefined) {
      bytes = Buffer.from(text(), 'utf8');
      if (this.pieces.size >= this.max) this.pieces.clear();
      this.pieces.set(key, bytes);
    }
    return bytes;
  }
}

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

/** canonicalJson of a field that is nearly always a plain string (amounts, ids, instants): those are quoted as they are. */
function quoted(out: BodySink, value: unknown): void {
  if (typeof value === 'string' && isPlain(value)) out.plainQuoted(value);
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
  /** Pieces many deployments share, by the fields they are made of. */
  private readonly farmers = new SharedPieces(SHARED_PIECES);
  private readonly gateways = new SharedPieces(SHARED_PIECES);
  private readonly nodeOffers = new SharedPieces(SHARED_PIECES);
  private readonly prices = new SharedPieces(SHARED_PIECES);
  /**
   * The slab each deployment's own piece goes into; the pieces it shares with others (its farmer's,
   * node's and offer's, the gateway's) are kept once each. bench/billing's first close at 100k
   * spent ~0.7 s making five small Buffers a deployment, each from a string, and its scavenges
   * copied them all; now it is one view of a slab a deployment. A slab lives while any of its
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
    out.bytes(s.customerDeployment);
    out.bytes(s.farmerText);
    out.bytes(K.farmerShare);
    quoted(out, body.farmerShare);
    out.bytes(K.fee);
    quoted(out, body.fee);
    out.bytes(K.final);
    if (body.final === true) out.ascii('true');
    else if (body.final === false) out.ascii('false');
    else out.utf8(canonicalJson(body.final));
    out.bytes(s.gatewayText);
    out.bytes(K.id);
    quoted(out, body.id);
    out.bytes(K.issuedAt);
    quoted(out, body.issuedAt);
    out.bytes(s.nodeOffer);
    out.bytes(K.periodEnd);
    quoted(out, body.periodEnd);
    out.bytes(K.periodStart);
    quoted(out, body.periodStart);
    out.bytes(K.prev);
    quoted(out, body.prev);
    out.bytes(s.priceToUnit);
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
    // The customer and deployment are the deployment's own: written into a scratch cursor (a plain string quoted as it is, no string for the piece), copied into the slab, kept as a view of it.
    const w = this.scratch;
    w.at = 0;
    w.bytes(K.customer);
    quoted(w, b.customer);
    w.bytes(K.deployment);
    quoted(w, b.deployment);
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
      customerDeployment: this.slab.subarray(at, at + length),
      // The rest is shared by many deployments (a farmer's, a node's, an offer's): one piece each.
      farmerText: this.farmers.piece(b.farmer, () => `,"farmer":${canonicalJson(b.farmer)}`),
      gatewayText: this.gateways.piece(b.gateway, () => `,"gateway":${canonicalJson(b.gateway)}`),
      // Keys of several fields: each but the last prefixed by its length, so no two field lists share a key.
      nodeOffer: this.nodeOffers.piece(`${b.node.length}:${b.node}${b.offer}`, () => `,"node":${canonicalJson(b.node)},"offer":${canonicalJson(b.offer)}`),
      priceToUnit: this.prices.piece(
        `${b.pricePerHour.length}:${b.purpose.length}:${b.pricePerHour}${b.purpose}${b.unit}`,
        () => `,"pricePerHour":${canonicalJson(b.pricePerHour)},"purpose":${canonicalJson(b.purpose)},"unit":${canonicalJson(b.unit)}`,
      ),
    };
    this.statics.set(owner, made);
    return made;
  }
}
