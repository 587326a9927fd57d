// An append-only, hash-chained, fsynced log of JSON records: receipts, billing outcomes, events, ledger entries.
import { closeSync, constants, fdatasyncSync, fstatSync, openSync, readFileSync, readSync, writeFileSync, writeSync, ftruncateSync, existsSync } from 'node:fs';
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
 * Each line is `{"n":…,"h":…,"r":…}`: `n` counts from 1 and `h` is blake2b-128 over the
 * previous line's `h` and the record's JSON text, so a line changed, dropped or reordered
 * anywhere stops the open with a clear error. Appending costs O(1): one write and one
 * fdatasync per batch, never a rewrite of what is stored. Records appended in the same tick
 * share one fsync (group commit).
 */
export class AppendLog<T> implements RecordLog<T> {
  private queue: { text: string; resolve: (offset: number) => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;

  private constructor(
    readonly path: string,
    private fd: number,
    private n: number,
    private head: string,
    private readonly durable: boolean,
  ) {}

  /**
   * Opens or creates the log (mode 0600) and reads every record. An unfinished last line —
   * bytes after the last newline, which a crash can leave and which were never acknowledged —
   * is moved to a side file and reported, not dropped silently. Damage anywhere else throws.
   */
  static open<T>(path: string, options: { durable?: boolean; keepLast?: number; visit?: (record: T, offset: number) => void; from?: LogTip } = {}): OpenedLog<T> {
    const keepLast = options.keepLast ?? Infinity;
    const visit = options.visit;
    const existed = existsSync(path);
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o600);
    try {
      if ((fstatSync(fd).mode & 0o077) !== 0) {
        throw new StoreError('permissions', `${path} can be read by others; run chmod 600 ${path}`);
      }
      // From a tip (a checkpoint's), only the lines after it are read and checked: those before were checked when written and at the open that read them.
      const base = options.from?.next ?? 0;
      const raw = base === 0 ? readFileSync(path) : readFrom(fd, base);
      const end = raw.lastIndexOf(0x0a) + 1;
      let tornBytes = 0;
      if (end < raw.length) {
        tornBytes = raw.length - end;
        const side = `${path}.torn-${Date.now()}`;
        writeFileSync(side, raw.subarray(end), { mode: 0o600 });
        ftruncateSync(fd, base + end);
        fdatasyncSync(fd);
      }
      const records: T[] = [];
      let head = options.from?.head ?? GENESIS;
      let n = options.from?.n ?? 0;
      for (let lineStart = 0; lineStart < end; ) {
        const nl = raw.indexOf(0x0a, lineStart);
        n++;
        head = checkLine(raw, lineStart, nl, n, head, `${path} line ${n}`, records);
        // A visitor takes each record with its line's offset; nothing is kept for it here.
        if (visit) visit(records.pop() as T, base + lineStart);
        lineStart = nl + 1;
        // Every line is still checked against the chain; only the newest keepLast are kept parsed.
        if (records.length >= 2 * keepLast) records.splice(0, records.length - keepLast);
      }
      if (records.length > keepLast) records.splice(0, records.length - keepLast);
      if (!existed) fsyncDir(dirname(path));
      return { log: new AppendLog<T>(path, fd, n, head, options.durable ?? true), records, tornBytes };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /**
   * Reads the complete records of a log that another process may be appending to, changing
   * nothing: an unfinished last line is ignored (its writer may still be writing it).
   */
  static read<T>(path: string): T[] {
    const raw = readFileSync(path);
    const end = raw.lastIndexOf(0x0a) + 1;
    const records: T[] = [];
    let head = GENESIS;
    let n = 0;
    for (let lineStart = 0; lineStart < end; ) {
      const nl = raw.indexOf(0x0a, lineStart);
      if (nl > lineStart) {
        n++;
        head = checkLine(raw, lineStart, nl, n, head, `${path} line ${n}`, records);
      }
      lineStart = nl + 1;
    }
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
      return tipOf(lineFrom(fd, offset), offset);
    } finally {
      closeSync(fd);
    }
  }

  /** The tip of this log's line starting at `offset`, or null. */
  tipAt(offset: number): LogTip | null {
    this.flushQueue();
    return tipOf(lineFrom(this.fd, offset), offset);
  }

  /** Number of records in the log. */
  get count(): number {
    return this.n + this.queue.length;
  }

  /**
   * Appends records; resolves once they are on disk (fsynced when the log is durable), with the
   * byte offset of each record's line (what readAt takes).
   */
  append(...records: T[]): Promise<number[]> {
    if (this.fd < 0) return Promise.reject(new StoreError('io', `${this.path}: the log is closed`));
    const texts = records.map((r) => JSON.stringify(r));
    return new Promise<number[]>((resolve, reject) => {
      const offsets: number[] = new Array<number>(texts.length);
      texts.forEach((text, i) =>
        this.queue.push({
          text,
          resolve: (offset) => {
            offsets[i] = offset;
            if (i === texts.length - 1) resolve(offsets);
          },
          reject,
        }),
      );
      if (texts.length === 0) resolve(offsets);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flushQueue());
      }
    });
  }

  /** Appends synchronously and fsyncs before returning; for callers that must not yield. */
  appendSync(...records: T[]): void {
    this.flushQueue();
    this.writeLines(records.map((r) => JSON.stringify(r)));
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
        visit(parseLine<T>(data.toString('utf8', start, nl), `${this.path} at byte ${carryAt + start}`), carryAt + start);
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

  close(): void {
    this.flushQueue();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private flushQueue(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      const offsets = this.writeLines(batch.map((b) => b.text));
      batch.forEach((b, i) => b.resolve(offsets[i] as number));
    } catch (err) {
      const e = err instanceof StoreError ? err : new StoreError('io', `${this.path}: ${errorMessage(err)}`);
      for (const b of batch) b.reject(e);
    }
  }

  /** Writes lines (one fsync) and answers the byte offset each one starts at. */
  private writeLines(texts: string[]): number[] {
    const lines: string[] = [];
    let n = this.n;
    let head = this.head;
    for (const text of texts) {
      n++;
      head = chain(head, text);
      lines.push(`{"n":${n},"h":"${head}","r":${text}}\n`);
    }
    const bytes = Buffer.from(lines.join(''), 'utf8');
    const sizeBefore = fstatSync(this.fd).size;
    const offsets: number[] = [];
    let at = sizeBefore;
    for (const line of lines) {
      offsets.push(at);
      at += Buffer.byteLength(line, 'utf8');
    }
    try {
      let written = 0;
      while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written);
      if (this.durable) fdatasyncSync(this.fd);
    } catch (err) {
      // A short write (disk full) must not leave half a line for the next append to follow.
      ftruncateSync(this.fd, sizeBefore);
      throw err;
    }
    this.n = n;
    this.head = head;
    return offsets;
  }
}

/** Where a log stands after one line: its number, the chain hash, and the byte offset of the next line. */
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

/** A line's number and chain hash, read from its prefix (its record is not parsed). */
function tipOf(line: string | null, offset: number): LogTip | null {
  const m = line === null ? null : /^\{"n":([1-9][0-9]*),"h":"([0-9a-f]{32})","r":/.exec(line);
  if (!m || line === null) return null;
  return { n: Number(m[1]), head: m[2] as string, next: offset + Buffer.byteLength(line, 'utf8') + 1 };
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

/** `{"n":` … `,"h":"` (32 hex digits) `","r":` … `}`: the only form writeLines writes. */
const HEAD_HEX_DIGITS = 32;

/**
 * Checks line `n` (bytes [start, end) of `raw`) against the chain and pushes its record;
 * returns the new head. The hash is taken over the record's bytes exactly as they stand in the
 * file (no re-serialising), so a line edited in any way, even one JSON would not notice, fails.
 */
function checkLine<T>(raw: Buffer, start: number, end: number, n: number, head: string, at: string, records: T[]): string {
  const line = raw.toString('utf8', start, end);
  const prefix = `{"n":${n},"h":"`;
  const recordStart = prefix.length + HEAD_HEX_DIGITS + 6;
  if (line.startsWith(prefix) && line.startsWith('","r":', prefix.length + HEAD_HEX_DIGITS) && line.endsWith('}')) {
    // The prefix is ASCII, so its length in characters is its length in bytes.
    const expected = chain(head, raw.subarray(start + recordStart, end - 1));
    if (line.slice(prefix.length, prefix.length + HEAD_HEX_DIGITS) !== expected) throw corrupt(at, 'does not match the hash chain: it or an earlier line was changed');
    try {
      records.push(JSON.parse(line.slice(recordStart, -1)) as T);
    } catch {
      throw corrupt(at, 'is not JSON');
    }
    return expected;
  }
  let parsed: { n?: unknown };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    throw corrupt(at, 'is not JSON');
  }
  if (parsed.n !== n) throw corrupt(at, `is numbered ${String(parsed.n)}: a line was lost or reordered`);
  throw corrupt(at, 'is not in the form this log writes: it was edited');
}

/** The record of one line read out of order: its form is checked, its place in the chain was checked at open. */
function parseLine<T>(line: string, at: string): T {
  const recordStart = line.indexOf('","r":');
  if (!line.startsWith('{"n":') || recordStart < 0 || !line.endsWith('}')) throw corrupt(at, 'is not in the form this log writes');
  try {
    return JSON.parse(line.slice(recordStart + 6, -1)) as T;
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

