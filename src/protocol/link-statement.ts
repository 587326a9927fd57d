// The link statement (hypha/link/v1): what the gateway asks a customer to sign, and the checks a signer makes before signing it.
import { AddressError, normaliseIpv6, parseTextStatement, textStatement } from '../identity/index.js';
import { canonicalSubnet64 } from './mycelium-local.js';

/** The purpose tag of link statements. */
export const LINK_PURPOSE = 'hypha/link/v1';

/** The fields of a link statement, in the order they are written. */
export interface LinkStatementFields {
  /** The gateway's AgentPubKey. */
  readonly gateway: string;
  /** The gateway's Mycelium address: where the customer asked for the challenge. */
  readonly gatewayAddress: string;
  /** The /64 being linked: the one the challenge was asked from. */
  readonly subnet: string;
  /** The Unyt identity it is linked to. */
  readonly agent: string;
  readonly nonce: string;
  /** ISO 8601 time after which the gateway refuses the signature. */
  readonly expires: string;
}

const ACTION = 'link this Mycelium /64 to this Unyt identity';

/** The statement text for `fields` (the gateway writes it; the customer signs its exact bytes). */
export function linkStatementText(fields: LinkStatementFields): string {
  return textStatement(LINK_PURPOSE, [
    ['action', ACTION],
    ['gateway', fields.gateway],
    ['gateway-address', fields.gatewayAddress],
    ['subnet', fields.subnet],
    ['agent', fields.agent],
    ['nonce', fields.nonce],
    ['expires', fields.expires],
  ]);
}

/** Why a signer refuses a link statement. */
export type LinkStatementProblem = 'wrong_purpose' | 'malformed' | 'other_gateway' | 'foreign_subnet' | 'other_agent' | 'expired';

/** A statement this machine must not sign; the message is one line that says why. */
export class LinkStatementError extends Error {
  constructor(
    readonly problem: LinkStatementProblem,
    message: string,
  ) {
    super(message);
    this.name = 'LinkStatementError';
  }
}

/** Whether `text` claims to be a link statement (of any version), so a generic signer must check it first. */
export function looksLikeLinkStatement(text: string): boolean {
  return text.startsWith('hypha/link/');
}

/** Parses a link statement's fields; LinkStatementError when it is another purpose or lacks a field. */
export function parseLinkStatement(text: string): LinkStatementFields {
  const parsed = parseTextStatement(text);
  if (!parsed) throw new LinkStatementError('malformed', 'the statement is not a hypha text statement (a purpose line, then "key: value" lines)');
  if (parsed.purpose !== LINK_PURPOSE) throw new LinkStatementError('wrong_purpose', `the statement is for ${parsed.purpose}, not ${LINK_PURPOSE}`);
  const field = (name: string): string => {
    const value = parsed.fields.get(name);
    if (value === undefined || value === '') throw new LinkStatementError('malformed', `the link statement has no "${name}" line`);
    return value;
  };
  if (field('action') !== ACTION) throw new LinkStatementError('malformed', 'the link statement has another action than linking a /64');
  return {
    gateway: field('gateway'),
    gatewayAddress: field('gateway-address'),
    subnet: field('subnet'),
    agent: field('agent'),
    nonce: field('nonce'),
    expires: field('expires'),
  };
}

/**
 * Checks that a link statement links one of this machine's own /64s (`localSubnets`). Signing
 * one for another /64 links whoever handed it over (a phishing page, a relaying gateway) to the
 * signer's identity.
 */
export function checkLinkSubnet(text: string, localSubnets: readonly string[]): LinkStatementFields {
  const fields = parseLinkStatement(text);
  let subnet: string;
  try {
    subnet = canonicalSubnet64(fields.subnet);
  } catch (err) {
    if (err instanceof AddressError || err instanceof TypeError) throw new LinkStatementError('malformed', `the link statement's subnet: ${err.message}`);
    throw err;
  }
  if (!localSubnets.includes(subnet)) {
    const own = localSubnets.length === 0 ? 'none found: is Mycelium running?' : localSubnets.join(', ');
    throw new LinkStatementError('foreign_subnet', `the statement links ${subnet}, which is not this machine's Mycelium /64 (${own})`);
  }
  return fields;
}

/** What a signer expects of the challenge it asked for. */
export interface LinkExpectation {
  /** The Mycelium address of the gateway the challenge was asked from. */
  readonly gatewayAddress: string;
  /** This machine's own /64s. */
  readonly localSubnets: readonly string[];
  /** The identity that will sign. */
  readonly agent: string;
  readonly nowMs: number;
}

/**
 * Checks a challenge's statement before signing it: a link statement, naming the gateway that
 * was asked, linking one of this machine's /64s to the signer's identity, and not yet expired.
 * Returns its fields; LinkStatementError says what is wrong.
 */
export function checkLinkStatement(text: string, expect: LinkExpectation): LinkStatementFields {
  const fields = parseLinkStatement(text);
  let named: string;
  try {
    named = normaliseIpv6(fields.gatewayAddress);
  } catch {
    throw new LinkStatementError('malformed', `the statement's gateway address ${JSON.stringify(fields.gatewayAddress)} is not an IPv6 address`);
  }
  if (named !== normaliseIpv6(expect.gatewayAddress)) {
    throw new LinkStatementError('other_gateway', `the statement names gateway ${named}, not ${normaliseIpv6(expect.gatewayAddress)}, the one asked: it was relayed from another gateway`);
  }
  checkLinkSubnet(text, expect.localSubnets);
  if (fields.agent !== expect.agent) throw new LinkStatementError('other_agent', `the statement links identity ${fields.agent}, not ${expect.agent}, the key's own`);
  const expiresMs = Date.parse(fields.expires);
  if (!Number.isFinite(expiresMs)) throw new LinkStatementError('malformed', `the statement's expiry ${JSON.stringify(fields.expires)} is not a time`);
  if (expect.nowMs > expiresMs) throw new LinkStatementError('expired', `the challenge expired at ${fields.expires}; ask for a new one`);
  return fields;
}
