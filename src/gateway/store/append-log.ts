// An append-only, hash-chained, fsynced log of JSON records: receipts, billing outcomes, events, ledger entries.
import { closeSync, constants, fdatasync, fdatasyncSync, write, fstatSync, openSync, readFileSync, readSync, writeFileSync, writeSync, ftruncateSync, existsSync } from 'node:fs';
import { errorMessage } from '../../identity/error-message.js';
import { blake2bChained, fromHex, fsyncDir, toHex, utf8 } from '../../identity/index.js';
import { dirname } from 'node:path';
import { StoreError } from './store.js';
import type { RecordLog } from './record-log.js';

/** How a log was found on open. */
export interface OpenedLog<T> {
  readonly log: AppendLog<T>;
  /** Every record, oldest first (only the last `keepLast` when that option was given). */
  readonly records: T[];
  /** Bytes of an unfinished last line (a write cut by a crash) moved aside to `<path>.torn-<ms>`. */
  readonly tornBytes: number;
}

const GENESIS = '0'.repeat(32);

/**
 * A batch of one record is one line `{"n":…,"h":…,"r":…}`: `n` counts records from 1 and `h`
 * is blake2b-128 over the previous head and the record's JSON text. A batch of several is its
 * record lines `{"n":…,"r":…}` and then one seal line `{"b":K,"h":…}`, whose `h` is blake2b-128
 * over the previous head and the K record lines' bytes as written: one hash per batch, not per
 * record (bench/billing: the per-line hash was a sixth of appending a close). Either way a line
 * changed, dropped or reordered anywhere stops the open with a clear error, and record lines not
 * followed by their seal (a crash mid-write, never acknowledged) are moved aside like a torn line.
 * Appending costs O(1): one write and one fdatasync per batch, never a rewrite of what is stored.
 * Records appended in the same tick share one fsync (group commit).
 */
/**
 * Records as UTF-8 JSON texts back to back in one buffer: record i is `data` from `ends[i - 1]`
 * (0 for the first) to `ends[i]`. A caller that wrote its records' bytes once (a close's receipts)
 * hands them over as they are, without a string per record.
 */
export interface EncodedRecords {
  readonly data: Uint8Array;
  readonly ends: readonly number[];
}

/** One append call waiting for the next write: its records' texts, and whom to answer. */
interface Pending {
  readonly texts: readonly string[] | EncodedRecords;
  readonly resolve: (offsets: number[]) => void;
  readonly reject: (e: Error) => void;
}

export class AppendLog<T> implements RecordLog<T> {
  private queue: Pending[] = [];
  /** Records in the queue. */
  private queued = 0;
  /**
   * The buffer batches are written from, kept for the next batch (up to KEPT_BUFFER_BYTES):
   * bench/billing at 100k, a fresh 20 MB buffer per batch of a close counted as external memory
   * and brought on full collections of the whole heap.
   */
  private lines: LineBuffer | null = null;
  private scheduled = false;
  /** A batch's write and fdatasync are running on libuv's threadpool (syncAside): the next batch is written once they end. */
  private syncing = false;
  /** close() was called while a batch was being synced: the file is closed once the queue is written and synced. */
  private closing = false;

  private constructor(
    readonly path: string,
    private fd: number,
    private n: number,
    private head: string,
    private readonly durable: boolean,
    private readonly syncAside: boolean,
  ) {}

  /**
   * Opens or creates the log (mode 0600) and reads every record. An unfinished end — bytes after
   * the last newline, or record lines whose batch seal is missing — which a crash can leave and
   * which was never acknowledged, is moved to a side file and reported, not dropped silently.
   * Damage anywhere else throws. `syncAside`: each batch's write and fdatasync run on libuv's
   * threadpool, so the main thread runs on meanwhile; an append is still acknowledged only once its
   * batch is synced, and the next batch is written only after that (bench/billing: a close's receipt
   * batches were written and synced with the main thread waiting, ~0.8–1.3 s of a 100k close).
   */
  static open<T>(path: string, options: { durable?: boolean; syncAside?: boolean; keepLast?: number; visit?: (record: T, offset: number) => void; from?: LogTip } = {}): OpenedLog<T> {
    const keepLast = options.keepLast ?? Infinity;
    const visit = options.visit;
    const existed = existsSync(path);
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o600);
    try {
      if ((fstatSync(fd).mode & 0o077) !== 0) {
        throw new StoreError('permissions', `${path} can be read by others; run chmod 600 ${path}`);
      }
      // From a tip (a checkpoint's), only the lines after it are read and checked: those before were checked when written and at the open that read them.
      const from = options.from;
      const base = from?.next ?? 0;
      const raw = base === 0 ? readFileSync(path) : readFrom(fd, base);
      const records: T[] = [];
      const scanned = scanLines<T>(
        raw,
        path,
        (record, offset) => {
          // A visitor takes each record with its line's offset; nothing is kept for it here.
          if (visit) visit(record, base + offset);
          else records.push(record);
          // Every line is still checked against the chain; only the newest keepLast are kept parsed.
          if (records.length >= 2 * keepLast) records.splice(0, records.length - keepLast);
        },
        from ? { n: from.n, head: from.head, base } : undefined,
      );
      if (records.length > keepLast) records.splice(0, records.length - keepLast);
      let tornBytes = 0;
      if (scanned.end < raw.length) {
        tornBytes = raw.length - scanned.end;
        const side = `${path}.torn-${Date.now()}`;
        writeFileSync(side, raw.subarray(scanned.end), { mode: 0o600 });
        ftruncateSync(fd, base + scanned.end);
        fdatasyncSync(fd);
      }
      if (!existed) fsyncDir(dirname(path));
      return { log: new AppendLog<T>(path, fd, scanned.n, scanned.head, options.durable ?? true, options.syncAside ?? false), records, tornBytes };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /**
   * Reads the complete records of a log that another process may be appending to, changing
   * nothing: an unfinished end is ignored (its writer may still be writing it).
   */
  static read<T>(path: string): T[] {
    const records: T[] = [];
    scanLines<T>(readFileSync(path), path, (record) => records.push(record));
    return records;
  }

  /**
   * The tip of the line starting at `offset` (its number and chain hash, and where the next line
   * starts), or null when no whole line of this log's form starts there.
   */
  static tipAt(path: string, offset: number): LogTip | null {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY);
    } catch {
      return null;
    }
    try {
      return tipOf(fd, offset);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * The records whose lines start at these offsets, read from the file before it is opened (a checkpoint
   * naming records of the log before its tip, which the open will not read again); throws when one is not
   * a whole line of this log's form.
   */
  static readAt<T>(path: string, offsets: readonly number[]): T[] {
    const fd = openSync(path, constants.O_RDONLY);
    try {
      return offsets.map((offset) => {
        const line = lineFrom(fd, offset);
        if (line === null) throw corrupt(`${path} at byte ${offset}`, 'is not a whole line');
        return parseLine<T>(line, `${path} at byte ${offset}`);
      });
    } finally {
      closeSync(fd);
    }
  }

  /** The tip of this log's line starting at `offset`, or null. */
  tipAt(offset: number): LogTip | null {
    this.flushQueue();
    return tipOf(this.fd, offset);
  }

  /** Number of records in the log. */
  get count(): number {
    return this.n + this.queued;
  }

  /**
   * Appends records; resolves once they are on disk (fsynced when the log is durable), with the
   * byte offset of each record's line (what readAt takes).
   */
  append(...records: T[]): Promise<number[]> {
    if (this.fd < 0 || this.closing) return Promise.reject(new StoreError('io', `${this.path}: the log is closed`));
    return this.appendTexts(records.map((r) => JSON.stringify(r)));
  }

  /**
   * Appends records given as their JSON texts (a caller that already wrote a record's JSON need
   * not have it written again); each text must be one JSON value, as JSON.stringify writes it.
   */
  appendTexts(texts: readonly string[]): Promise<number[]> {
    if (this.fd < 0 || this.closing) return Promise.reject(new StoreError('io', `${this.path}: the log is closed`));
    // A raw newline would split a record across lines (JSON text never has one).
    if (texts.some((t) => t.includes('\n'))) return Promise.reject(new StoreError('io', `${this.path}: a record's text holds a raw newline`));
    return this.enqueue(texts, texts.length);
  }

  /**
   * Appends records given as their JSON texts' UTF-8 bytes, back to back (EncodedRecords); each
   * must be one JSON value. Written as they are: the same lines appendTexts writes for the same texts.
   */
  appendEncoded(records: EncodedRecords): Promise<number[]> {
    if (this.fd < 0 || this.closing) return Promise.reject(new StoreError('io', `${this.path}: the log is closed`));
    const { data, ends } = records;
    const end = ends.length === 0 ? 0 : (ends[ends.length - 1] as number);
    let ordered = end <= data.length;
    for (let i = 0, at = 0; ordered && i < ends.length; at = ends[i++] as number) ordered = (ends[i] as number) > at;
    if (!ordered) return Promise.reject(new RangeError(`${this.path}: record ends must rise, each record non-empty, within the data`));
    if (data.subarray(0, end).indexOf(0x0a) >= 0) return Promise.reject(new StoreError('io', `${this.path}: a record's text holds a raw newline`));
    return this.enqueue(records, ends.length);
  }

  private enqueue(texts: readonly string[] | EncodedRecords, count: number): Promise<number[]> {
    if (count === 0) return Promise.resolve([]);
    return new Promise<number[]>((resolve, reject) => {
      this.queue.push({ texts, resolve, reject });
      this.queued += count;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flushQueue());
      }
    });
  }

  /** Appends synchronously and fsyncs before returning; for callers that must not yield. */
  appendSync(...records: T[]): void {
    this.flushQueue();
    // Records queued behind a batch being synced would be written after these, out of order.
    if (this.syncing) throw new StoreError('io', `${this.path}: appendSync while a batch is being synced (await the appends first)`);
    this.writeLines([records.map((r) => JSON.stringify(r))], true);
  }

  /**
   * Reads the records whose lines start at `offsets` (as append or open's visitor gave them).
   * The chain was checked when the log was opened; a line read here must still be one this
   * log wrote, or it throws as corrupt.
   */
  readAt(offsets: readonly number[]): T[] {
    this.flushQueue();
    return offsets.map((offset) => parseLine<T>(this.lineAt(offset), `${this.path} at byte ${offset}`));
  }

  /**
   * Visits the records whose lines start within [fromOffset, toOffset], in order, reading the
   * file in chunks (never the whole log at once).
   */
  readRange(fromOffset: number, toOffset: number, visit: (record: T, offset: number) => void): void {
    this.flushQueue();
    const chunk = 1 << 20;
    let offset = fromOffset;
    let carry = Buffer.alloc(0);
    let carryAt = fromOffset;
    while (carryAt <= toOffset) {
      const buf = Buffer.allocUnsafe(chunk);
      const got = readSync(this.fd, buf, 0, chunk, offset);
      if (got === 0) break;
      offset += got;
      const data = carry.length === 0 ? buf.subarray(0, got) : Buffer.concat([carry, buf.subarray(0, got)]);
      let start = 0;
      for (let nl = data.indexOf(0x0a, start); nl >= 0 && carryAt + start <= toOffset; nl = data.indexOf(0x0a, start)) {
        // A batch's seal line holds no record.
        if (data[start + 2] !== SEAL_KEY) visit(parseLine<T>(data.toString('utf8', start, nl), `${this.path} at byte ${carryAt + start}`), carryAt + start);
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
      carryAt += start;
    }
  }

  /** The line (without its newline) that starts at `offset`. */
  private lineAt(offset: number): string {
    const line = lineFrom(this.fd, offset);
    if (line === null) throw corrupt(`${this.path} at byte ${offset}`, 'is not a whole line');
    return line;
  }

  /**
   * Closes the file once what was appended is written (and synced); appends after this are refused.
   * With a batch being synced aside, the file stays open until the queue behind it is written and synced.
   */
  close(): void {
    this.flushQueue();
    if (this.syncing) {
      this.closing = true;
      return;
    }
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private flushQueue(): void {
    this.scheduled = false;
    // One batch is synced at a time: the queue is written when that sync ends (so a failed sync truncates only its own batch).
    if (this.syncing) return;
    const batch = this.queue;
    this.queue = [];
    this.queued = 0;
    if (batch.length === 0) {
      if (this.closing) {
        this.closing = false;
        this.close();
      }
      return;
    }
    const aside = this.durable && this.syncAside;
    let written: Written;
    try {
      written = this.writeLines(batch.map((b) => b.texts), !aside);
    } catch (err) {
      for (const b of batch) b.reject(asStoreError(this.path, err));
      return;
    }
    if (!aside) {
      answer(batch, written.offsets);
      return;
    }
    // The main thread runs on (a close issues its next receipts) while this batch is written and synced; it is acknowledged only once synced.
    this.syncing = true;
    writeAndSyncAside(this.fd, written.bytes, (err) => {
      this.syncing = false;
      written.keep();
      if (err) {
        // As a failed synchronous write or fdatasync: the batch is cut off and refused (nothing was written after it).
        try {
          ftruncateSync(this.fd, written.sizeBefore);
        } catch {
          // The refusal below still stands; the next open moves an unsealed end aside.
        }
        this.n = written.nBefore;
        this.head = written.headBefore;
        for (const b of batch) b.reject(asStoreError(this.path, err));
      } else answer(batch, written.offsets);
      if (this.queue.length > 0 || this.closing) this.flushQueue();
    });
  }

  /**
   * Writes records' lines (one fsync) and answers the byte offset each one starts at. One record
   * is one self-hashed line; several are their lines plus a seal hashing all of them at once,
   * each line encoded once, straight into the buffer that is written and hashed (records given
   * as bytes are copied in as they are).
   */
  private writeLines(parts: ReadonlyArray<readonly string[] | EncodedRecords>, now: boolean): Written {
    const sizeBefore = fstatSync(this.fd).size;
    const nBefore = this.n;
    const headBefore = this.head;
    let count = 0;
    let room = 64;
    for (const p of parts) {
      if (Array.isArray(p)) {
        count += p.length;
        for (const text of p as readonly string[]) room += 3 * text.length + 32;
      } else {
        const e = p as EncodedRecords;
        count += e.ends.length;
        room += (e.ends[e.ends.length - 1] as number) + 32 * e.ends.length;
      }
    }
    if (count === 0) return { offsets: [], sizeBefore, nBefore, headBefore, bytes: new Uint8Array(0), keep: () => undefined };
    const out = this.lines ?? new LineBuffer(room);
    this.lines = null;
    out.reset(room);
    let n = this.n;
    let head: string;
    const offsets: number[] = new Array<number>(count);
    if (count === 1) {
      const p = parts[0] as readonly string[] | EncodedRecords;
      const record = Array.isArray(p) ? utf8((p as readonly string[])[0] as string) : (p as EncodedRecords).data.subarray(0, (p as EncodedRecords).ends[0]);
      n++;
      head = chain(this.head, record);
      out.ascii(`{"n":${n},"h":"${head}","r":`);
      out.bytes(record);
      out.ascii('}\n');
      offsets[0] = sizeBefore;
    } else {
      let k = 0;
      for (const p of parts) {
        if (Array.isArray(p)) {
          for (const text of p as readonly string[]) {
            offsets[k++] = sizeBefore + out.length;
            out.ascii(`{"n":${++n},"r":`);
            out.utf8(text);
            out.ascii('}\n');
          }
          continue;
        }
        const { data, ends } = p as EncodedRecords;
        for (let i = 0, from = 0; i < ends.length; from = ends[i++] as number) {
          offsets[k++] = sizeBefore + out.length;
          out.ascii(`{"n":${++n},"r":`);
          out.bytes(data.subarray(from, ends[i]));
          out.ascii('}\n');
        }
      }
      head = chain(this.head, out.written());
      out.ascii(`{"b":${count},"h":"${head}"}\n`);
    }
    const bytes = out.written();
    const keep = (): void => {
      if (out.capacity <= KEPT_BUFFER_BYTES) this.lines = out;
    };
    if (!now) {
      // Written aside by the caller; the chain moves on now (and back if the write or its sync fails).
      this.n = n;
      this.head = head;
      return { offsets, sizeBefore, nBefore, headBefore, bytes, keep };
    }
    try {
      let written = 0;
      while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written);
      if (this.durable) fdatasyncSync(this.fd);
    } catch (err) {
      // A short write (disk full) must not leave half a batch for the next append to follow.
      ftruncateSync(this.fd, sizeBefore);
      throw err;
    }
    this.n = n;
    this.head = head;
    keep();
    return { offsets, sizeBefore, nBefore, headBefore, bytes, keep };
  }
}

/** Writes all of `bytes` at the end of the file on libuv's threadpool, then fdatasyncs it; `done` gets the first error. */
function writeAndSyncAside(fd: number, bytes: Uint8Array, done: (err: Error | null) => void): void {
  const from = (at: number): void => {
    if (at >= bytes.length) {
      fdatasync(fd, done);
      return;
    }
    write(fd, bytes, at, bytes.length - at, null, (err, n) => (err ? done(err) : from(at + n)));
  };
  from(0);
}

/** A batch's lines: each record's line offset, the log's size, count and head before it (to undo it when its write or sync fails), its bytes, and how to keep its buffer for the next batch once written. */
interface Written {
  readonly offsets: number[];
  readonly sizeBefore: number;
  readonly nBefore: number;
  readonly headBefore: string;
  readonly bytes: Uint8Array;
  readonly keep: () => void;
}

/** Resolves each append call of a batch with its records' offsets. */
function answer(batch: readonly Pending[], offsets: readonly number[]): void {
  let at = 0;
  for (const b of batch) {
    const count = Array.isArray(b.texts) ? b.texts.length : (b.texts as EncodedRecords).ends.length;
    b.resolve(offsets.slice(at, (at += count)));
  }
}

function asStoreError(path: string, err: unknown): StoreError {
  return err instanceof StoreError ? err : new StoreError('io', `${path}: ${errorMessage(err)}`);
}

/** The largest write buffer a log keeps between batches (a 16,384-receipt batch of a close is ~22 MB). */
const KEPT_BUFFER_BYTES = 64 << 20;

/** A batch's bytes as they are written: grown (doubled) before any write could be cut short. */
class LineBuffer {
  private buf: Buffer;
  length = 0;

  constructor(room: number) {
    this.buf = Buffer.allocUnsafe(room);
  }

  get capacity(): number {
    return this.buf.length;
  }

  /** Empties it for a batch of about `room` bytes. */
  reset(room: number): void {
    this.length = 0;
    if (this.buf.length < room) this.buf = Buffer.allocUnsafe(room);
  }

  /** Text known to be ASCII (the line forms, numbers, hex). */
  ascii(s: string): void {
    this.room(s.length);
    this.length += this.buf.write(s, this.length, 'latin1');
  }

  /** Up to 3 bytes per UTF-16 unit. */
  utf8(s: string): void {
    this.room(3 * s.length);
    this.length += this.buf.write(s, this.length, 'utf8');
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  written(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  private room(bytes: number): void {
    if (this.buf.length - this.length >= bytes) return;
    const bigger = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.length + bytes));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }
}

/** The byte after `{"` that makes a line a batch's seal (`{"b":…`), not a record. */
const SEAL_KEY = 0x62;
const SELF_HASHED = /^\{"n":(\d+),"h":"([0-9a-f]{32})","r":/;
const IN_BATCH = /^\{"n":(\d+),"r":/;
const SEAL = /^\{"b":(\d+),"h":"([0-9a-f]{32})"\}$/;

/** Where a log stands after one append batch: its record count, the chain hash, and the byte offset of the next line. */
export interface LogTip {
  readonly n: number;
  readonly head: string;
  readonly next: number;
}

/** The line (without its newline) starting at `offset` of an open file, or null if no whole line starts there. */
function lineFrom(fd: number, offset: number): string | null {
  let size = 4096;
  for (;;) {
    const buf = Buffer.allocUnsafe(size);
    const got = readSync(fd, buf, 0, size, offset);
    const nl = buf.subarray(0, got).indexOf(0x0a);
    if (nl >= 0) return buf.toString('utf8', 0, nl);
    if (got < size) return null;
    size *= 4;
  }
}

/**
 * The tip after the record line at `offset`, read from prefixes (no record is parsed): a
 * self-hashed line carries its own hash; the last record line of a batch is followed by its seal,
 * which carries the batch's. Null for a line inside a batch (no tip stands there) or no line at all.
 */
function tipOf(fd: number, offset: number): LogTip | null {
  const line = lineFrom(fd, offset);
  if (line === null) return null;
  const next = offset + Buffer.byteLength(line, 'utf8') + 1;
  const self = SELF_HASHED.exec(line);
  if (self) return { n: Number(self[1]), head: self[2] as string, next };
  const inBatch = IN_BATCH.exec(line);
  if (!inBatch) return null;
  const sealLine = lineFrom(fd, next);
  const seal = sealLine === null ? null : SEAL.exec(sealLine);
  if (!seal || sealLine === null) return null;
  return { n: Number(inBatch[1]), head: seal[2] as string, next: next + Buffer.byteLength(sealLine, 'utf8') + 1 };
}

/** The bytes of an open file from `offset` to its end. */
function readFrom(fd: number, offset: number): Buffer {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(Math.max(0, size - offset));
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, offset + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * Checks every whole line of `raw` against the chain and hands each record, with its line's
 * offset, to `onRecord` — a batch's records only once its seal holds. Each hash is taken over
 * the bytes exactly as they stand in the file (no re-serialising), so a line edited in any way,
 * even one JSON would not notice, fails. Answers the record count, the head and where the
 * complete part ends: before an unfinished last line, or before record lines left unsealed.
 * `after`: `raw` starts at byte `base` of the file, after a tip with that count and head.
 */
function scanLines<T>(raw: Buffer, path: string, onRecord: (record: T, offset: number) => void, after?: { n: number; head: string; base: number }): { n: number; head: string; end: number } {
  const last = raw.lastIndexOf(0x0a) + 1;
  let head = after?.head ?? GENESIS;
  let n = after?.n ?? 0;
  /** Record lines of the batch not sealed yet: start of the line, start and end of its record. */
  const pending: number[] = [];
  let lineNo = 0;
  for (let lineStart = 0; lineStart < last; ) {
    const nl = raw.indexOf(0x0a, lineStart);
    lineNo++;
    const at = after ? `${path} line ${lineNo} after byte ${after.base}` : `${path} line ${lineNo}`;
    // The forms are ASCII up to the record, so a latin1 prefix is the bytes as they are.
    const prefix = raw.toString('latin1', lineStart, Math.min(nl, lineStart + 80));
    const closed = raw[nl - 1] === 0x7d;
    const self = closed ? SELF_HASHED.exec(prefix) : null;
    const inBatch = closed && !self ? IN_BATCH.exec(prefix) : null;
    const seal = !self && !inBatch ? SEAL.exec(raw.toString('latin1', lineStart, nl)) : null;
    const expectedN = n + pending.length / 3 + 1;
    if (self && Number(self[1]) === expectedN && pending.length === 0) {
      const expected = chain(head, raw.subarray(lineStart + self[0].length, nl - 1));
      if (self[2] !== expected) throw corrupt(at, 'does not match the hash chain: it or an earlier line was changed');
      n++;
      head = expected;
      onRecord(parseRecord<T>(raw, lineStart + self[0].length, nl - 1, at), lineStart);
    } else if (inBatch && Number(inBatch[1]) === expectedN) {
      pending.push(lineStart, lineStart + inBatch[0].length, nl - 1);
    } else if (seal && pending.length > 0 && Number(seal[1]) === pending.length / 3) {
      const expected = chain(head, raw.subarray(pending[0], lineStart));
      if (seal[2] !== expected) throw corrupt(at, 'does not match the hash chain: a line of its batch or an earlier line was changed');
      for (let k = 0; k < pending.length; k += 3) onRecord(parseRecord<T>(raw, pending[k + 1] as number, pending[k + 2] as number, at), pending[k] as number);
      n += pending.length / 3;
      pending.length = 0;
      head = expected;
    } else {
      throw misplaced(raw.toString('utf8', lineStart, nl), expectedN, at);
    }
    lineStart = nl + 1;
  }
  return { n, head, end: pending.length > 0 ? (pending[0] as number) : last };
}

/** Why a line fits no form where it stands. */
function misplaced(line: string, expectedN: number, at: string): StoreError {
  let parsed: { n?: unknown; b?: unknown };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    return corrupt(at, 'is not JSON');
  }
  if (parsed.b !== undefined) return corrupt(at, 'seals a batch that does not match the lines before it: a line was lost, added or reordered');
  if (parsed.n !== expectedN) return corrupt(at, `is numbered ${String(parsed.n)}: a line was lost or reordered`);
  return corrupt(at, 'is not in the form this log writes: it was edited');
}

function parseRecord<T>(raw: Buffer, start: number, end: number, at: string): T {
  try {
    return JSON.parse(raw.toString('utf8', start, end)) as T;
  } catch {
    throw corrupt(at, 'is not JSON');
  }
}

/** The record of one line read out of order: its form is checked, its place in the chain was checked at open. */
function parseLine<T>(line: string, at: string): T {
  const form = SELF_HASHED.exec(line) ?? IN_BATCH.exec(line);
  if (!form || !line.endsWith('}')) throw corrupt(at, 'is not in the form this log writes');
  try {
    return JSON.parse(line.slice(form[0].length, -1)) as T;
  } catch {
    throw corrupt(at, 'is not JSON');
  }
}

function chain(prevHead: string, record: string | Uint8Array): string {
  return toHex(blake2bChained(fromHex('head', prevHead, 16), typeof record === 'string' ? utf8(record) : record, 16));
}

function corrupt(at: string, what: string): StoreError {
  return new StoreError('corrupt', `${at} ${what}. hypha never resets money records: restore the file from a backup (or a replica) before starting.`);
}

