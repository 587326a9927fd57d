// The JSON text of a v2 receipt's money record, put together from its body's canonical JSON (written once, to hash the body) instead of serialising the body a second time.
import type { EncodedRecords } from '../store/append-log.js';
import { ByteCursor, isPlain } from './byte-cursor.js';

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

/** The record's key texts around the body and its fields, as bytes once. */
const HEAD_BYTES = Buffer.from(RECORD_HEAD, 'latin1');
const PERIOD_START_MS = Buffer.from(',"periodStartMs":', 'latin1');
const KEY = Buffer.from(',"key":', 'latin1');
const HASH = Buffer.from(',"hash":', 'latin1');
const INDEX = Buffer.from(',"index":', 'latin1');
const END = Buffer.from('}', 'latin1');

/**
 * The same texts as receiptRecordText, as UTF-8 bytes back to back (what AppendLog.appendEncoded
 * takes), from the body's canonical JSON bytes: no string is made for a body, a record or its tail
 * (bench/billing at 100k: the tail's string was ~0.15 s of a close; a key and a hash are plain
 * ASCII, written a byte a character).
 */
export class ReceiptRecordBytes {
  private readonly out: ByteCursor;
  private ends: number[] = [];

  /** `room`: bytes to begin with (grown as needed). */
  constructor(room: number) {
    this.out = new ByteCursor(Math.max(64, room));
  }

  /** Empties it for the next batch, keeping its buffer (records taken before are no longer valid). */
  reset(): void {
    this.out.at = 0;
    this.ends = [];
  }

  /** Adds one record: `body` is the receipt body's canonical JSON as UTF-8. */
  add(body: Uint8Array, periodStartMs: number, key: string, hash: string, index: number): void {
    checkNumbers(periodStartMs, index);
    const out = this.out;
    out.bytes(HEAD_BYTES);
    out.bytes(body);
    out.bytes(PERIOD_START_MS);
    out.ascii(String(periodStartMs));
    out.bytes(KEY);
    jsonString(out, key);
    out.bytes(HASH);
    jsonString(out, hash);
    out.bytes(INDEX);
    out.ascii(String(index));
    out.bytes(END);
    this.ends.push(out.at);
  }

  /** The records added (a view of this writer's buffer, valid until the next add or reset). */
  records(): EncodedRecords {
    return { data: this.out.data.subarray(0, this.out.at), ends: this.ends };
  }
}

/** JSON.stringify(s), written. */
function jsonString(out: ByteCursor, s: string): void {
  if (isPlain(s)) out.plainQuoted(s);
  else out.utf8(JSON.stringify(s));
}
