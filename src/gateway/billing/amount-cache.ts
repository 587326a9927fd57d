// Amount texts parsed and written once per distinct value: a close's receipts repeat a few prices times a few up-times.
import { formatAmount, parseAmount } from '../../protocol/money.js';

/** Distinct values kept each way; past it the cache starts over (a bound, not an LRU: misses only cost the plain call). */
const KEPT = 4096;
const parsed = new Map<string, bigint>();
const written = new Map<bigint, string>();

/**
 * parseAmount(field, text), remembered for texts already parsed (bench/billing: parsing was a
 * tenth of committing a receipt). A text parseAmount refuses is never kept: it throws each time.
 */
export function amountOf(field: string, text: string): bigint {
  let micros = parsed.get(text);
  if (micros === undefined) {
    micros = parseAmount(field, text);
    if (parsed.size >= KEPT) parsed.clear();
    parsed.set(text, micros);
  }
  return micros;
}

/** formatAmount(micros), remembered for values already written. */
export function amountText(micros: bigint): string {
  let text = written.get(micros);
  if (text === undefined) {
    text = formatAmount(micros);
    if (written.size >= KEPT) written.clear();
    written.set(micros, text);
  }
  return text;
}
