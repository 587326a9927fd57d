// A token bucket per key (a /64): a burst is allowed, then a steady rate.

/** Per-key token buckets; idle buckets are forgotten so memory stays bounded by active keys. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  /** `perMinute` tokens refill each minute; at most `burst` are saved up. */
  constructor(private readonly perMinute: number, private readonly burst: number, private readonly nowMs: () => number) {}

  /** Takes a token for `key`; returns 0 if allowed, else the seconds until one is available. */
  take(key: string): number {
    const now = this.nowMs();
    let b = this.buckets.get(key);
    if (b === undefined) {
      // Only a new key grows the map (a known key's bucket is updated in place): the bound is checked here.
      b = { tokens: this.burst, atMs: now };
      this.buckets.set(key, b);
      if (this.buckets.size > 100_000) this.sweep(now);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.atMs) / 60_000) * this.perMinute);
    b.atMs = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.perMinute) * 60);
  }

  private sweep(now: number): void {
    const fullAfterMs = (this.burst / this.perMinute) * 60_000;
    for (const [key, b] of this.buckets) if (now - b.atMs > fullAfterMs) this.buckets.delete(key);
  }
}
