// The canonical JSON of a v2 receipt body, put together from pieces kept per deployment (and per agent head) instead of written from scratch for every receipt.
import { canonicalJson } from '../../identity/index.js';
import type { ReceiptAgentHead, ReceiptBodyV2 } from '../../protocol/receipt.js';

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
  /** `,"customer":…,"deployment":…` */
  readonly customerDeployment: string;
  readonly farmerText: string;
  readonly gatewayText: string;
  /** `,"node":…,"offer":…` */
  readonly nodeOffer: string;
  /** `,"pricePerHour":…,"purpose":…,"unit":…` */
  readonly priceToUnit: string;
}

/** Printable ASCII but `"` and `\`: such a string's JSON is itself in quotes (no escapes, no surrogates). */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** canonicalJson of a field that is nearly always a plain string (amounts, ids, instants): those are quoted as they are. */
function quoted(value: unknown): string {
  return typeof value === 'string' && PLAIN.test(value) ? `"${value}"` : canonicalJson(value);
}

/** canonicalJson of a field that is nearly always a safe integer (up-seconds): such a number's JSON is its decimal text. */
function integerText(value: unknown): string {
  return Number.isSafeInteger(value) && !Object.is(value, -0) ? String(value) : canonicalJson(value);
}

/** Keys of a body this writer takes; anything else (a disputed receipt's `dispute`) goes to canonicalJson whole. */
const KEYS = 21;

/**
 * bench/billing's profile at 30k: canonical JSON was about half of issuing a receipt, most of it
 * re-writing fields that never change for a deployment. This keeps those fields' JSON per
 * deployment (and each agent head's JSON, which all of a farmer's receipts of a period share) and
 * concatenates them with the fields that change, in sorted key order. The text is byte-identical
 * to canonicalJson(body) (test/gateway/receipt-body-text.test.ts checks it as a property); a
 * cached piece is used only while every field it was made from is the same string.
 */
export class ReceiptBodyText {
  /** Keyed by the deployment's record object: a record replaced (any change) misses, and dropped records are collected. */
  private readonly statics = new WeakMap<object, StaticPart>();
  private readonly heads = new WeakMap<ReceiptAgentHead, string>();

  /** canonicalJson(body), where `owner` is the record the body was made from (the cache key). */
  text(owner: object, body: ReceiptBodyV2): string {
    if (Object.keys(body).length !== KEYS || body.v !== 2) return canonicalJson(body);
    const s = this.staticOf(owner, body);
    return (
      '{"agentHead":' +
      this.headText(body.agentHead) +
      ',"amount":' +
      quoted(body.amount) +
      s.customerDeployment +
      s.farmerText +
      ',"farmerShare":' +
      quoted(body.farmerShare) +
      ',"fee":' +
      quoted(body.fee) +
      ',"final":' +
      (body.final === true ? 'true' : body.final === false ? 'false' : canonicalJson(body.final)) +
      s.gatewayText +
      ',"id":' +
      quoted(body.id) +
      ',"issuedAt":' +
      quoted(body.issuedAt) +
      s.nodeOffer +
      ',"periodEnd":' +
      quoted(body.periodEnd) +
      ',"periodStart":' +
      quoted(body.periodStart) +
      ',"prev":' +
      quoted(body.prev) +
      s.priceToUnit +
      ',"upSeconds":' +
      integerText(body.upSeconds) +
      ',"v":2}'
    );
  }

  private headText(head: ReceiptAgentHead | null): string {
    if (head === null) return 'null';
    let text = this.heads.get(head);
    if (text === undefined) {
      text = canonicalJson(head);
      this.heads.set(head, text);
    }
    return text;
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
      customerDeployment: `,"customer":${canonicalJson(b.customer)},"deployment":${canonicalJson(b.deployment)}`,
      farmerText: `,"farmer":${canonicalJson(b.farmer)}`,
      gatewayText: `,"gateway":${canonicalJson(b.gateway)}`,
      nodeOffer: `,"node":${canonicalJson(b.node)},"offer":${canonicalJson(b.offer)}`,
      priceToUnit: `,"pricePerHour":${canonicalJson(b.pricePerHour)},"purpose":${canonicalJson(b.purpose)},"unit":${canonicalJson(b.unit)}`,
    };
    this.statics.set(owner, made);
    return made;
  }
}
