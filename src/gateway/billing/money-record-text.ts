// The JSON text of a v2 receipt's money record, put together from its body's canonical JSON (written once, to hash the body) instead of serialising the body a second time.
import type { EncodedRecords } from '../store/append-log.js';

/**
 * The text of `{t: 'receipt', receipt, periodStartMs, key, hash, index}` with `bodyText` (the
 * receipt body's canonical JSON) as its `receipt`. It parses to the same record as
 * JSON.stringify of it (test/gateway/money-record-text.test.ts checks it as a property); only
 * the body's keys stand in another (sorted) order. bench/billing: JSON.stringify of the receipt
 * records was about a quarter of appending a close.
 */
export function receiptRecordText(bodyText: string, periodStartMs: number, key: string, hash: string, index: number): string {
  checkNumbers(periodStartMs, index);
  return `${RECORD_HEAD}${bodyText}${recordTail(periodStartMs, key, hash, index)}`;
}

const RECORD_HEAD = '{"t":"receipt","receipt":';

function recordTail(periodStartMs: number, key: string, hash: string, index: number): string {
  return `,"periodStartMs":${periodStartMs},"key":${JSON.stringify(key)},"hash":${JSON.stringify(hash)},"index":${index}}`;
}

function checkNumbers(periodStartMs: number, index: number): void {
  if (!Number.isSafeInteger(periodStartMs) || !Number.isSafeInteger(index)) throw new RangeError('receiptRecordText: periodStartMs and index must be safe integers');
}

/**
 * The same texts as receiptRecordText, as UTF-8 bytes back to back (what AppendLog.appendEncoded
 * takes), from the body's canonical JSON bytes: no string is made for a body or a record.
 */
export class ReceiptRecordBytes {
  private data: Buffer;
  private at = 0;
  private ends: number[] = [];

  /** `room`: bytes to begin with (grown as needed). */
  constructor(room: number) {
    this.data = Buffer.allocUnsafe(Math.max(64, room));
  }

  /** Empties it for the next batch, keeping its buffer (records taken before are no longer valid). */
  reset(): void {
    this.at = 0;
    this.ends = [];
  }

  /** Adds one record: `body` is the receipt body's canonical JSON as UTF-8. */
  add(body: Uint8Array, periodStartMs: number, key: string, hash: string, index: number): void {
    checkNumbers(periodStartMs, index);
    const tail = recordTail(periodStartMs, key, hash, index);
    const need = RECORD_HEAD.length + body.length + 3 * tail.length;
    if (this.data.length - this.at < need) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.data.length, this.at + need));
      this.data.copy(bigger, 0, 0, this.at);
      this.data = bigger;
    }
    this.at += this.data.write(RECORD_HEAD, this.at, 'latin1');
    this.data.set(body, this.at);
    this.at += body.length;
    this.at += this.data.write(tail, this.at, 'utf8');
    this.ends.push(this.at);
  }

  /** The records added (a view of this writer's buffer, valid until the next add or reset). */
  records(): EncodedRecords {
    return { data: this.data.subarray(0, this.at), ends: this.ends };
  }
}
