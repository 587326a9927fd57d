// Shared bench helpers: rounds interleaved across variants, medians, and a ratio table.

/** One variant of a measurement: a name and a function doing `batch` operations per call. */
export interface Variant {
  readonly name: string;
  readonly run: () => void;
  readonly batch?: number;
}

/** Operations per second of each variant: the median of `rounds` interleaved runs of `ms` each. */
export function measureOpsPerSecond(variants: Variant[], options: { ms?: number; rounds?: number } = {}): Map<string, number> {
  const ms = options.ms ?? 700;
  const rounds = options.rounds ?? 5;
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (const v of variants) for (let i = 0; i < 200; i++) v.run();
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      const batch = v.batch ?? 1;
      let ops = 0;
      const start = process.hrtime.bigint();
      const deadline = start + BigInt(ms) * 1_000_000n;
      let now = start;
      while (now < deadline) {
        for (let i = 0; i < 64; i++) v.run();
        ops += 64 * batch;
        now = process.hrtime.bigint();
      }
      samples.get(v.name)?.push(ops / (Number(now - start) / 1e9));
    }
  }
  return new Map([...samples].map(([name, s]) => [name, median(s)]));
}

/** The median of numbers. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** A Markdown table of results with each one's ratio to `baseline`. */
export function ratioTable(results: Map<string, number>, baseline: string, unit: string): string {
  const base = results.get(baseline) ?? NaN;
  const rows = [`| variant | ${unit} | ratio to ${baseline} |`, '|---|---:|---:|'];
  for (const [name, value] of results) rows.push(`| ${name} | ${Math.round(value).toLocaleString('en-US')} | ${(value / base).toFixed(2)} |`);
  return rows.join('\n');
}

/** The `p`-th percentile (0–100) of numbers, nearest rank; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1] as number;
}

/**
 * A distribution-free interval for the median of `values` (sorted order statistics: the k-th
 * smallest and k-th largest, k the largest rank with P(Binomial(n, ½) < k) ≤ (1 − confidence)/2).
 * It says how far the median of a bench's rounds could move from run to run without assuming the
 * rounds are normal; [NaN, NaN] when there are too few values for that confidence (n < 6 at 95%).
 */
export function medianInterval(values: readonly number[], confidence = 0.95): readonly [number, number] {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  const tail = (1 - confidence) / 2;
  // P(X ≤ j) for X ~ Binomial(n, ½), added up rank by rank.
  let below = 0;
  let term = 0.5 ** n;
  let k = 0;
  for (let j = 0; j < n; j++) {
    below += term;
    if (below > tail) break;
    k = j + 1;
    term = (term * (n - j)) / (j + 1);
  }
  if (k === 0) return [NaN, NaN];
  return [s[k - 1] as number, s[n - k] as number];
}
