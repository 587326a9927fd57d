// The canonical JSON of a v2 receipt body, put together from pieces kept per deployment (and per agent head) instead of written from scratch for every receipt.
import { canonicalJson } from '../../identity/index.js';
import type { ReceiptAgentHead, ReceiptBodyV2 } from '../../protocol/receipt.js';
import type { BodySink } from './byte-cursor.js';

/** The fields of a body that stay the same for a deployment from period to period, in canonical (sorted) key order. */
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
  /** `,"customer":…,"deployment":…` as UTF-8 (likewise below). */
  readonly customerDeployment: Buffer;
  readonly farmerText: Buffer;
  readonly gatewayText: Buffer;
  /** `,"node":…,"offer":…` */
  readonly nodeOffer: Buffer;
  /** `,"pricePerHour":…,"purpose":…,"unit":…` */
  readonly priceToUnit: Buffer;
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
      customerDeployment: Buffer.from(`,"customer":${canonicalJson(b.customer)},"deployment":${canonicalJson(b.deployment)}`, 'utf8'),
      farmerText: Buffer.from(`,"farmer":${canonicalJson(b.farmer)}`, 'utf8'),
      gatewayText: Buffer.from(`,"gateway":${canonicalJson(b.gateway)}`, 'utf8'),
      nodeOffer: Buffer.from(`,"node":${canonicalJson(b.node)},"offer":${canonicalJson(b.offer)}`, 'utf8'),
      priceToUnit: Buffer.from(`,"pricePerHour":${canonicalJson(b.pricePerHour)},"purpose":${canonicalJson(b.purpose)},"unit":${canonicalJson(b.unit)}`, 'utf8'),
    };
    this.statics.set(owner, made);
    return made;
  }
}
