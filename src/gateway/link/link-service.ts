// Linking a Mycelium /64 to a Unyt identity: single-use challenges bound to the asking /64, and signed statements.
import { errorMessage } from '../../identity/error-message.js';
import {
  decodeAgentPubKey,
  fromBase64,
  randomBytes,
  toBase64,
  toBase64Url,
  utf8,
  verify,
} from '../../identity/index.js';
import { ValidationError, expectAgentPubKey, expectObject, expectOnlyKeys, expectString } from '../../protocol/validate.js';
import { linkStatementText } from '../../protocol/link-statement.js';
import { PublicError } from '../http/public-error.js';
import { clockName, type Clock, type ClockName } from '../../protocol/clock.js';
import type { Table } from '../store/store.js';
import type { LinkRecord } from '../store/records.js';
import { RateLimiter } from '../limits/rate-limiter.js';

/** Link policy. */
export interface LinkPolicy {
  /** How long a challenge may be answered. */
  readonly challengeTtlMs: number;
  /** Most /64s (devices) one identity may link. */
  readonly maxSubnetsPerAgent: number;
  /** Challenges one /64 may ask for per minute (and in a burst). */
  readonly challengesPerMinute: number;
}

/** The gateway as a statement names it. */
export interface GatewayIdentity {
  readonly agent: string;
  readonly address: string;
}

interface Challenge {
  readonly nonce: string;
  readonly agent: string;
  readonly subnet: string;
  readonly statement: string;
  readonly expiresAtMs: number;
}

/** What a customer gets back from a challenge request. */
export interface ChallengeAnswer {
  readonly nonce: string;
  readonly statement: string;
  readonly expiresAt: string;
  /** The clock expiresAt is on: the gateway gives challenges wall time, also in the lab (whose orders and receipts run on lab time). */
  readonly clock: ClockName;
}

/** Most open challenges kept per /64; a new one past this evicts the oldest. */
const OPEN_CHALLENGES_PER_SUBNET = 8;

/** Events the service reports, for metrics and the admin timeline. */
export type LinkOutcome = 'challenge' | 'linked' | 'relinked' | 'unlinked' | 'rejected';

/**
 * Issues and checks link challenges. Nonces live in memory only: they are short-lived, and a
 * restart simply makes customers ask again. A nonce is consumed by any attempt made from its
 * own /64 (so it cannot be guessed at), but not by attempts from other /64s (so a bystander
 * who saw it cannot burn it).
 */
export class LinkService {
  private readonly challenges = new Map<string, Challenge>();
  private readonly limiter: RateLimiter;

  constructor(
    private readonly links: Table<LinkRecord>,
    private readonly clock: Clock,
    private readonly gateway: GatewayIdentity,
    private readonly policy: LinkPolicy,
    private readonly onOutcome: (outcome: LinkOutcome, detail: Record<string, unknown>) => void = () => undefined,
  ) {
    this.limiter = new RateLimiter(policy.challengesPerMinute, policy.challengesPerMinute, () => clock.nowMs());
  }

  /** Creates a challenge for `body.agent`, bound to the caller's /64. */
  challenge(callerSubnet: string, body: unknown): ChallengeAnswer {
    const o = expectObject(body, 'body');
    expectOnlyKeys(o, ['agent'], '');
    const agent = expectAgentPubKey(o.agent, 'agent');
    const wait = this.limiter.take(callerSubnet);
    if (wait > 0) {
      throw new PublicError('rate_limited', `too many link challenges from ${callerSubnet}`, `wait ${wait} s and ask again`, { retryAfterSeconds: wait });
    }
    this.sweep();
    const now = this.clock.nowMs();
    const nonce = toBase64Url(randomBytes(18));
    const expiresAtMs = now + this.policy.challengeTtlMs;
    const expiresAt = new Date(expiresAtMs).toISOString();
    const statement = linkStatementText({
      gateway: this.gateway.agent,
      gatewayAddress: this.gateway.address,
      subnet: callerSubnet,
      agent,
      nonce,
      expires: expiresAt,
    });
    const open = [...this.challenges.values()].filter((c) => c.subnet === callerSubnet);
    if (open.length >= OPEN_CHALLENGES_PER_SUBNET) this.challenges.delete((open[0] as Challenge).nonce);
    this.challenges.set(nonce, { nonce, agent, subnet: callerSubnet, statement, expiresAtMs });
    this.onOutcome('challenge', { subnet: callerSubnet, agent });
    return { nonce, statement, expiresAt, clock: clockName(this.clock) };
  }

  /** Checks a signed challenge and stores the link; `created` is false when it already existed. */
  async link(callerSubnet: string, callerAddress: string, body: unknown): Promise<{ record: LinkRecord; created: boolean }> {
    const o = expectObject(body, 'body');
    expectOnlyKeys(o, ['agent', 'nonce', 'signature'], '');
    const agent = expectAgentPubKey(o.agent, 'agent');
    const nonce = expectString(o.nonce, 'nonce', { maxLength: 64 });
    const signatureText = expectString(o.signature, 'signature', { maxLength: 100 });
    let signature: Uint8Array;
    try {
      signature = fromBase64('signature', signatureText, 64);
    } catch (err) {
      throw new ValidationError('signature', `${errorMessage(err).replace(/^signature /, '')}; expected the base64 of a 64-byte ed25519 signature`);
    }
    const challenge = this.challenges.get(nonce);
    if (!challenge) {
      throw this.reject('nonce_invalid', 'this nonce is unknown or was already used', 'ask for a new challenge: POST /v1/link/challenge', callerSubnet);
    }
    if (challenge.subnet !== callerSubnet) {
      throw this.reject(
        'wrong_subnet',
        `this challenge was issued to ${challenge.subnet}, not to ${callerSubnet}`,
        'ask for the challenge from the machine you are linking, and answer from the same machine',
        callerSubnet,
      );
    }
    this.challenges.delete(nonce);
    if (this.clock.nowMs() > challenge.expiresAtMs) {
      throw this.reject('nonce_expired', `this challenge expired at ${new Date(challenge.expiresAtMs).toISOString()}`, 'ask for a new challenge and sign it promptly', callerSubnet);
    }
    if (challenge.agent !== agent) {
      throw this.reject('bad_signature', 'agent is not the identity this challenge was issued for', 'use the agent you asked the challenge for', callerSubnet);
    }
    if (!verify(signature, utf8(challenge.statement), decodeAgentPubKey(agent))) {
      throw this.reject(
        'bad_signature',
        "the signature does not verify with the agent's key over the statement",
        'link from the machine you are linking with `hypha link --gateway URL --key FILE`, which checks the statement and signs it with the key of this agent',
        callerSubnet,
      );
    }
    const existing = this.links.get(callerSubnet);
    if (existing) {
      if (existing.agent === agent) {
        this.onOutcome('relinked', { subnet: callerSubnet, agent });
        return { record: existing, created: false };
      }
      throw this.reject('conflict', `${callerSubnet} is already linked to another identity`, 'unlink it first (DELETE /v1/link from that /64), then link again', callerSubnet);
    }
    const devices = this.links.values().filter((l) => l.agent === agent).length;
    if (devices >= this.policy.maxSubnetsPerAgent) {
      throw this.reject(
        'conflict',
        `${agent} already has ${devices} linked /64s, the most this gateway allows`,
        'unlink a /64 you no longer use (DELETE /v1/link from it), then link this one',
        callerSubnet,
      );
    }
    const record: LinkRecord = {
      subnet: callerSubnet,
      agent,
      address: callerAddress,
      linkedAtMs: this.clock.nowMs(),
      nonce,
      statement: challenge.statement,
      signature: toBase64(signature),
    };
    await this.links.put(callerSubnet, record);
    this.onOutcome('linked', { subnet: callerSubnet, agent });
    return { record, created: true };
  }

  /** Removes the caller's link; false when there was none. */
  async unlink(callerSubnet: string): Promise<boolean> {
    const existing = this.links.get(callerSubnet);
    const removed = await this.links.delete(callerSubnet);
    if (removed) this.onOutcome('unlinked', { subnet: callerSubnet, agent: existing?.agent });
    return removed;
  }

  /** Open challenges (for tests and metrics). */
  openChallenges(): number {
    return this.challenges.size;
  }

  private reject(code: 'nonce_invalid' | 'nonce_expired' | 'wrong_subnet' | 'bad_signature' | 'conflict', message: string, hint: string, subnet: string): PublicError {
    this.onOutcome('rejected', { subnet, reason: code });
    return new PublicError(code, message, hint);
  }

  private sweep(): void {
    const now = this.clock.nowMs();
    for (const [nonce, c] of this.challenges) if (now > c.expiresAtMs) this.challenges.delete(nonce);
  }
}
