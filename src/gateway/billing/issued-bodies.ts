// A close's receipt bodies as canonical JSON bytes back to back in one buffer, with each body's blake2b-256 in another: written once, hashed where they lie (CloseHasher), copied into the log's lines as they are.
import { ByteCursor, type BodySink } from './byte-cursor.js';
import type { CloseHashRun } from './close-hasher.js';
import { HASH_BYTES } from './close-hashing.js';

/** Room kept per body to begin with (a v2 body is about 1.1 KB): the buffer rarely grows. */
const BODY_BYTES_GUESS = 1280;

/** Writes one body's canonical JSON into a sink (ReceiptBodyText). */
export interface BodyWriter<O, B> {
  write(owner: O, body: B, out: BodySink): void;
}

/**
 * bench/billing at 100k: each body's canonical JSON was a string kept for the whole close, and its
 * money record's text a second one (about 230 MB together, all promoted to the old generation
 * before the close ended). Here each body's text is written once into one buffer, hashed there,
 * and copied from there into its record's line. Written piece by piece (addWritten), no string is
 * made for a body at all: a whole-body string and its flattened copy were ~240 MB of a 100k
 * close's ~1 GB of allocation (bench/billing BENCH_HEAP_PROFILE_DIR).
 */
export class IssuedBodies {
  private readonly cursor: ByteCursor;
  private hashes: Buffer;
  private ends: number[] = [];
  /** Bodies handed to the close's hashing so far (post). */
  private posted = 0;

  /**
   * `expected`: about how many bodies will be added (room is grown past it). `allocate`: how the
   * bodies' buffer is made (shared memory when a worker hashes them: sharedBuffer).
   */
  constructor(expected: number, allocate?: (bytes: number) => Buffer) {
    this.cursor = new ByteCursor(Math.max(1, expected) * BODY_BYTES_GUESS, allocate);
    this.hashes = Buffer.allocUnsafe(Math.max(1, expected) * HASH_BYTES);
  }

  /**
   * Empties it for the next close, keeping its buffers (bodies and hashes read before are no longer
   * valid): a close's bodies take ~110 MB at 100k, and a fresh buffer that size each close counted as
   * external memory and brought on full collections of the whole heap (bench/billing).
   */
  reset(expected: number): void {
    this.ends = [];
    this.posted = 0;
    this.cursor.at = 0;
    // Grown with room to spare, so a gateway that gains a few deployments each hour does not get a fresh buffer every close.
    if (this.cursor.data.length < expected * BODY_BYTES_GUESS) this.cursor.reserve(Math.ceil(1.25 * expected * BODY_BYTES_GUESS));
    if (this.hashes.length < expected * HASH_BYTES) this.hashes = Buffer.allocUnsafe(Math.ceil(1.25 * expected * HASH_BYTES));
  }

  /** Bodies added. */
  get count(): number {
    return this.ends.length;
  }

  /** Adds a body's canonical JSON text (as UTF-8); answers its index. Hashed when posted (post). */
  add(text: string): number {
    this.cursor.at = this.end();
    this.cursor.utf8(text);
    return this.close();
  }

  /**
   * Adds the body `writer` writes for (owner, body) straight into the buffer (ReceiptBodyText.write:
   * the same bytes as add(canonicalJson(body))); answers its index as add does. A writer that throws
   * adds nothing.
   */
  addWritten<O, B>(writer: BodyWriter<O, B>, owner: O, body: B): number {
    this.cursor.at = this.end();
    writer.write(owner, body, this.cursor);
    return this.close();
  }

  /** Hands the bodies added since the last post to the close's hashing, whose sink is setHashes. */
  post(run: CloseHashRun): void {
    if (this.posted === this.ends.length) return;
    const from = this.posted === 0 ? 0 : (this.ends[this.posted - 1] as number);
    run.post(this.cursor.data, from, this.ends.slice(this.posted), this.posted);
    this.posted = this.ends.length;
  }

  /** The hashes of bodies `firstIndex` on, 32 bytes each (a close hashing run's sink). */
  setHashes(firstIndex: number, hashes: Uint8Array): void {
    const need = firstIndex * HASH_BYTES + hashes.length;
    if (this.hashes.length < need) this.hashes = grown(this.hashes, this.hashes.length, need);
    this.hashes.set(hashes, firstIndex * HASH_BYTES);
  }

  /** Body `i`'s blake2b-256 as hex (the receipt's hash), once the hashing has given it. */
  hashHex(i: number): string {
    return this.hashes.toString('hex', i * HASH_BYTES, (i + 1) * HASH_BYTES);
  }

  /** Where the next body begins: the end of the last one added. */
  private end(): number {
    return this.ends.length === 0 ? 0 : (this.ends[this.ends.length - 1] as number);
  }

  /** Ends the body written from end() to the cursor; answers its index. */
  private close(): number {
    this.ends.push(this.cursor.at);
    return this.ends.length - 1;
  }

  /** Body `i`'s canonical JSON, as UTF-8 (a view, not a copy). */
  body(i: number): Buffer {
    if (!Number.isInteger(i) || i < 0 || i >= this.ends.length) throw new RangeError(`IssuedBodies.body: index must be 0 to ${this.ends.length - 1}`);
    return this.cursor.data.subarray(i === 0 ? 0 : this.ends[i - 1], this.ends[i]);
  }
}

/** A buffer in shared memory (a worker thread reads it where it lies). */
export function sharedBuffer(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes));
}

/** A copy of the first `used` bytes of `buf` in a buffer of at least `need` (and at least twice the old) bytes. */
function grown(buf: Buffer, used: number, need: number): Buffer {
  const bigger = Buffer.allocUnsafe(Math.max(2 * buf.length, need));
  buf.copy(bigger, 0, 0, used);
  return bigger;
}
