// The JSON text of a v2 receipt's money record, put together from its body's canonical JSON (written once, to hash the body) instead of serialising the body a second time.

/**
 * The text of `{t: 'receipt', receipt, periodStartMs, key, hash, index}` with `bodyText` (the
 * receipt body's canonical JSON) as its `receipt`. It parses to the same record as
 * JSON.stringify of it (test/gateway/money-record-text.test.ts checks it as a property); only
 * the body's keys stand in another (sorted) order. bench/billing: JSON.stringify of the receipt
 * records was about a quarter of appending a close.
 */
export function receiptRecordText(bodyText: string, periodStartMs: number, key: string, hash: string, index: number): string {
  if (!Number.isSafeInteger(periodStartMs) || !Number.isSafeInteger(index)) throw new RangeError('receiptRecordText: periodStartMs and index must be safe integers');
  return `{"t":"receipt","receipt":${bodyText},"periodStartMs":${periodStartMs},"key":${JSON.stringify(key)},"hash":${JSON.stringify(hash)},"index":${index}}`;
}
