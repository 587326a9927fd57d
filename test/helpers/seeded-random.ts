// A seeded pseudo-random generator for property tests, so a failing run can be repeated from its printed seed.

/** The seed of a property test: HYPHA_TEST_SEED when set (to repeat a failure), else a fresh one. */
export function testSeed(): number {
  const fromEnv = process.env.HYPHA_TEST_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`HYPHA_TEST_SEED must be a non-negative integer, got ${fromEnv}`);
    return seed >>> 0;
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

/**
 * mulberry32 (Tommy Ettinger's 32-bit generator): small, fast and good enough to pick test
 * inputs. Not for anything secret.
 */
export class SeededRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max] (both safe integers). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** A bigint in [0, 10^digits), each decimal digit drawn separately. */
  bigDigits(digits: number): bigint {
    let out = 0n;
    for (let i = 0; i < digits; i++) out = out * 10n + BigInt(this.int(0, 9));
    return out;
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }
}
