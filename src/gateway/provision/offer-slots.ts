// How many VMs of each offer can be placed now, for GET /v1/offers: computed at most once per short while, whoever asks.
import type { Clock } from '../../protocol/clock.js';
import type { Offer } from '../../protocol/offer.js';
import type { Provisioner } from './provisioner.js';

/** How long an answer is served again: agent nodes change by the second; the grid proxy is a remote call. */
export const OFFER_SLOTS_TTL_MS = { agent: 2_000, grid: 30_000 } as const;

/**
 * Caches the slot counts of every offer. GET /v1/offers needs no identity, so anyone on Mycelium
 * can call it as often as they like: however many ask, the provisioner is asked about each offer
 * at most once per `ttlMs` (for the grid, that is the grid proxy's answer), and callers who ask
 * while an answer is being computed share it. A failure is kept as long as an answer would be,
 * so a grid proxy that is down is not asked again by every caller.
 */
export class OfferSlots {
  private cached: { readonly atMs: number; readonly answer: Promise<ReadonlyMap<string, number>> } | null = null;

  constructor(
    private readonly provisioner: Pick<Provisioner, 'candidateNodes'>,
    private readonly offers: () => readonly Offer[],
    /** Real time: the cache protects the process, whatever the lab's billing clock does. */
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  /** Free slots by offer id. */
  all(): Promise<ReadonlyMap<string, number>> {
    const now = this.clock.nowMs();
    if (this.cached && now - this.cached.atMs < this.ttlMs && now >= this.cached.atMs) return this.cached.answer;
    const answer = this.compute();
    // A rejection is handled by whoever awaits it; this keeps Node from calling it unhandled meanwhile.
    answer.catch(() => undefined);
    this.cached = { atMs: now, answer };
    return answer;
  }

  private async compute(): Promise<ReadonlyMap<string, number>> {
    const out = new Map<string, number>();
    for (const offer of this.offers()) {
      const candidates = await this.provisioner.candidateNodes(offer);
      out.set(offer.id, candidates.reduce((n, c) => n + c.freeSlots, 0));
    }
    return out;
  }
}
