// The last heads of one agent's heartbeat chain by seq, kept as bytes in two growing typed arrays rather than as hex strings in a Map.

/** Heads are BLAKE2b-256: 32 bytes, 64 hex digits. */
const HEAD_BYTES = 32;
/** Heads as `put` takes them: 64 hex digits, either case. */
const HEAD_HEX_LENGTH = HEAD_BYTES * 2;
/** Each ASCII code's value as a hex digit, 0xff for any other: the one table `put` checks and decodes heads by. */
const HEX_VALUE = (() => {
  const table = new Uint8Array(128).fill(0xff);
  for (let v = 0; v < 16; v++) {
    table[v.toString(16).charCodeAt(0)] = v;
    table[v.toString(16).toUpperCase().charCodeAt(0)] = v;
  }
  return table;
})();
/** Where `put` decodes a head before it evicts anything (shared: a decode and its copy run with nothing between). */
const decoded = new Uint8Array(HEAD_BYTES);
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
    // Checked and decoded before anything is evicted, so a refused put changes nothing.
    if (!decodeHead(headHex, decoded)) throw new RangeError('a head must be 64 hex digits');
    if (this.count === this.bound) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    } else if (this.count === this.capacity) {
      this.grow();
    }
    const slot = this.slot(this.count);
    this.heads.set(decoded, slot * HEAD_BYTES);
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

/**
 * Decodes `text` into `into` when it is exactly 64 hex digits, either case (what
 * /^[0-9a-fA-F]{64}$/ accepts); false, with `into` half-written, for anything else. One pass that
 * checks as it decodes, where `put` ran that regex and then Buffer.write's hex decoding: ~0.65x the
 * CPU per put with the head in cache, ~0.36x out of it (bench/recent-heads). Buffer's decoding cannot do
 * the check itself: it stops at a bad digit without saying so, and reads only the low byte of each
 * UTF-16 unit, so "\u0130" passes for "0".
 */
function decodeHead(text: string, into: Uint8Array): boolean {
  if (text.length !== HEAD_HEX_LENGTH) return false;
  for (let i = 0; i < HEAD_BYTES; i++) {
    const a = text.charCodeAt(2 * i);
    const b = text.charCodeAt(2 * i + 1);
    const high = a < 128 ? (HEX_VALUE[a] as number) : 0xff;
    const low = b < 128 ? (HEX_VALUE[b] as number) : 0xff;
    if ((high | low) > 15) return false;
    into[i] = (high << 4) | low;
  }
  return true;
}
