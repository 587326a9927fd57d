// The last heads of one agent's heartbeat chain by seq, kept as bytes in two growing typed arrays rather than as hex strings in a Map.

/** Heads are BLAKE2b-256: 32 bytes, 64 hex digits. */
const HEAD_BYTES = 32;
/** What `put` takes: checked before anything is evicted, so a refused put changes nothing. */
const HEAD_HEX = /^[0-9a-fA-F]{64}$/;
/** First capacity; doubled up to the bound as heartbeats arrive (most agents never reach it between restarts). */
const INITIAL_CAPACITY = 64;

/**
 * The heads of the last `bound` heartbeats put in, in the order put (seqs strictly increasing, as
 * HeartbeatChain.accept puts them), each found by its seq. Same answers as a Map of seq -> hex head
 * that drops its oldest entry past `bound`, but a head costs 40 bytes outside the JS heap instead
 * of ~150 bytes of heap (a 64-character string and a Map entry) that every major GC marks:
 * with thousands of agents beating, those strings were most of what the gateway's heap kept per
 * heartbeat, and a fifth of its CPU went to GC (bench/agents --cpu-prof).
 */
export class RecentHeads {
  private heads = Buffer.alloc(INITIAL_CAPACITY * HEAD_BYTES);
  private seqs = new Float64Array(INITIAL_CAPACITY);
  /** Slot of the oldest entry, and how many entries there are. */
  private start = 0;
  private count = 0;

  constructor(private readonly bound: number) {
    if (!Number.isSafeInteger(bound) || bound < 1) throw new RangeError(`bound must be a positive integer, got ${bound}`);
  }

  /** How many heads are kept. */
  get size(): number {
    return this.count;
  }

  /**
   * Keeps `headHex` (64 hex digits) for `seq`, which must be above every seq put before;
   * forgets the oldest head once `bound` are kept.
   */
  put(seq: number, headHex: string): void {
    if (this.count > 0 && seq <= (this.seqs[this.slot(this.count - 1)] as number)) throw new RangeError(`seq ${seq} is not above the last one kept`);
    if (!HEAD_HEX.test(headHex)) throw new RangeError('a head must be 64 hex digits');
    if (this.count === this.bound) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    } else if (this.count === this.capacity) {
      this.grow();
    }
    const slot = this.slot(this.count);
    this.heads.write(headHex, slot * HEAD_BYTES, HEAD_BYTES, 'hex');
    this.seqs[slot] = seq;
    this.count++;
  }

  /** The head kept for `seq` (lower-case hex, as chainNext writes heads), if it is among the last `bound` put. */
  get(seq: number): string | undefined {
    // Seqs increase in put order, so the entries are sorted: a binary search over the ring.
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const slot = this.slot(mid);
      const at = this.seqs[slot] as number;
      if (at === seq) return this.heads.toString('hex', slot * HEAD_BYTES, (slot + 1) * HEAD_BYTES);
      if (at < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  private get capacity(): number {
    return this.seqs.length;
  }

  /** The ring slot of the `i`-th oldest entry. */
  private slot(i: number): number {
    return (this.start + i) % this.capacity;
  }

  /** Doubles the capacity (up to `bound`), laying the entries out from slot 0. */
  private grow(): void {
    const capacity = Math.min(this.bound, this.capacity * 2);
    const heads = Buffer.alloc(capacity * HEAD_BYTES);
    const seqs = new Float64Array(capacity);
    for (let i = 0; i < this.count; i++) {
      const from = this.slot(i);
      this.heads.copy(heads, i * HEAD_BYTES, from * HEAD_BYTES, (from + 1) * HEAD_BYTES);
      seqs[i] = this.seqs[from] as number;
    }
    this.heads = heads;
    this.seqs = seqs;
    this.start = 0;
  }
}
