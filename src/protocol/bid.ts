// Capacity requests and farmers' bids: the wire shapes both ends share, and the signed statement a bid is.
import { decodeAgentPubKey, fromBase64, signJsonStatement, toBase64, verifyJsonStatement } from '../identity/index.js';
import { parseAmount } from './money.js';
import { ID_PATTERN } from './agent-messages.js';
import { ValidationError, expectArray, expectInteger, expectObject, expectString } from './validate.js';

/** The purpose tag a bid is signed under: a signature made for anything else never verifies as a bid. */
export const BID_PURPOSE = 'hypha/bid/v1';

/** Most nodes one capacity-request message names (MAX_NODES_PER_AGENT: one agent's nodes). */
export const MAX_NODES_PER_REQUEST = 64;

/** What a customer asks for, as the gateway sends it to an agent whose nodes can fit it. */
export interface CapacityRequest {
  readonly id: string;
  readonly cpu: number;
  readonly memoryGb: number;
  readonly diskGb: number;
  /** The most the customer pays per hour: a decimal string of `unit`. */
  readonly maxPricePerHour: string;
  readonly unit: string;
  /** How long the customer means to run it (a hint for the farmer's price; billing stays per period). */
  readonly hours?: number;
  /** When the request stops taking bids (clock ms). */
  readonly expiresAtMs: number;
  /** The agent's nodes the gateway found room on: a bid names one of them. */
  readonly nodes: readonly string[];
}

/**
 * The statement a farmer signs for one bid: the request, the gateway, the node, the size and the
 * price, so a signed bid is the evidence of the price the customer accepted on that node.
 */
export interface BidStatement {
  readonly request: string;
  readonly gateway: string;
  readonly farmer: string;
  readonly node: string;
  readonly cpu: number;
  readonly memoryGb: number;
  readonly diskGb: number;
  readonly pricePerHour: string;
  readonly unit: string;
  /** The bid holds until then (clock ms). */
  readonly validUntilMs: number;
}

/** A bid with the farmer's signature (base64 ed25519 over the canonical statement with BID_PURPOSE). */
export interface SignedBid extends BidStatement {
  readonly signature: string;
}

/** Signs a bid statement with the farmer's secret key. */
export function signBid(secretKey: Uint8Array, statement: BidStatement): SignedBid {
  return { ...statement, signature: toBase64(signJsonStatement(secretKey, BID_PURPOSE, bidBody(statement))) };
}

/** Whether the bid's signature is its farmer's over exactly these fields; false (never a throw) for anything malformed. */
export function bidSignatureHolds(bid: SignedBid): boolean {
  try {
    return verifyJsonStatement(fromBase64('signature', bid.signature, 64), BID_PURPOSE, bidBody(bid), decodeAgentPubKey(bid.farmer));
  } catch {
    return false;
  }
}

/** The signed fields only (a SignedBid carries its signature too). */
function bidBody(b: BidStatement): Record<string, unknown> {
  return {
    request: b.request,
    gateway: b.gateway,
    farmer: b.farmer,
    node: b.node,
    cpu: b.cpu,
    memoryGb: b.memoryGb,
    diskGb: b.diskGb,
    pricePerHour: b.pricePerHour,
    unit: b.unit,
    validUntilMs: b.validUntilMs,
  };
}

const id = (v: unknown, f: string): string => expectString(v, f, { maxLength: 64, pattern: ID_PATTERN, patternName: 'an id of letters, digits and ._:-' });

/** Reads a signed bid (from an agent, or from a customer accepting it); ValidationError names the bad field under `field`. */
export function parseSignedBid(value: unknown, field: string): SignedBid {
  const o = expectObject(value, field);
  const pricePerHour = expectString(o.pricePerHour, `${field}.pricePerHour`, { maxLength: 40 });
  try {
    parseAmount(`${field}.pricePerHour`, pricePerHour);
  } catch (err) {
    throw new ValidationError(`${field}.pricePerHour`, err instanceof Error ? err.message : 'is not an amount');
  }
  return {
    request: id(o.request, `${field}.request`),
    gateway: expectString(o.gateway, `${field}.gateway`, { maxLength: 64 }),
    farmer: expectString(o.farmer, `${field}.farmer`, { maxLength: 64 }),
    node: id(o.node, `${field}.node`),
    cpu: expectInteger(o.cpu, `${field}.cpu`, 1, 1024),
    memoryGb: expectInteger(o.memoryGb, `${field}.memoryGb`, 1, 65536),
    diskGb: expectInteger(o.diskGb, `${field}.diskGb`, 1, 1_000_000),
    pricePerHour,
    unit: expectString(o.unit, `${field}.unit`, { maxLength: 16 }),
    validUntilMs: expectInteger(o.validUntilMs, `${field}.validUntilMs`, 0, 8.64e15),
    signature: expectString(o.signature, `${field}.signature`, { maxLength: 100 }),
  };
}

/** Reads a capacity request as the agent receives it. */
export function parseCapacityRequest(value: unknown, field: string): CapacityRequest {
  const o = expectObject(value, field);
  const maxPricePerHour = expectString(o.maxPricePerHour, `${field}.maxPricePerHour`, { maxLength: 40 });
  parseAmount(`${field}.maxPricePerHour`, maxPricePerHour);
  return {
    id: id(o.id, `${field}.id`),
    cpu: expectInteger(o.cpu, `${field}.cpu`, 1, 1024),
    memoryGb: expectInteger(o.memoryGb, `${field}.memoryGb`, 1, 65536),
    diskGb: expectInteger(o.diskGb, `${field}.diskGb`, 1, 1_000_000),
    maxPricePerHour,
    unit: expectString(o.unit, `${field}.unit`, { maxLength: 16 }),
    ...(o.hours === undefined ? {} : { hours: expectInteger(o.hours, `${field}.hours`, 1, 8760) }),
    expiresAtMs: expectInteger(o.expiresAtMs, `${field}.expiresAtMs`, 0, 8.64e15),
    nodes: expectArray(o.nodes, `${field}.nodes`, 1, MAX_NODES_PER_REQUEST, (v, f) => id(v, f)),
  };
}
