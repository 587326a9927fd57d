// A close's receipt bodies as canonical JSON bytes back to back in one buffer, with each body's blake2b-256 in another: written once, hashed where they lie, copied into the log's lines as they are.
import { blake2b256Hex } from '../../identity/index.js';
import { ByteCursor, type BodySink } from './byte-cursor.js';

const HASH_BYTES = 32;
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

  /** `expected`: about how many bodies will be added (room is grown past it). */
  constructor(expected: number) {
    this.cursor = new ByteCursor(Math.max(1, expected) * BODY_BYTES_GUESS);
    this.hashes = Buffer.allocUnsafe(Math.max(1, expected) * HASH_BYTES);
  }

  /**
   * Empties it for the next close, keeping its buffers (bodies and hashes read before are no longer
   * valid): a close's bodies take ~110 MB at 100k, and a fresh buffer that size each close counted as
   * external memory and brought on full collections of the whole heap (bench/billing).
   */
  reset(expected: number): void {
    this.ends = [];
    this.cursor.at = 0;
    // Grown with room to spare, so a gateway that gains a few deployments each hour does not get a fresh buffer every close.
    if (this.cursor.data.length < expected * BODY_BYTES_GUESS) this.cursor.data = Buffer.allocUnsafe(Math.ceil(1.25 * expected * BODY_BYTES_GUESS));
    if (this.hashes.length < expected * HASH_BYTES) this.hashes = Buffer.allocUnsafe(Math.ceil(1.25 * expected * HASH_BYTES));
  }

  /** Bodies added. */
  get count(): number {
    return this.ends.length;
  }

  /** Adds a body's canonical JSON; answers blake2b-256 of its UTF-8 bytes, as hex (the receipt's hash). */
  add(text: string): string {
    this.cursor.at = this.end();
    this.cursor.utf8(text);
    return this.seal();
  }

  /**
   * Adds the body `writer` writes for (owner, body) straight into the buffer (ReceiptBodyText.write:
   * the same bytes as add(canonicalJson(body))); answers its hash as add does. A writer that throws
   * adds nothing.
   */
  addWritten<O, B>(writer: BodyWriter<O, B>, owner: O, body: B): string {
    this.cursor.at = this.end();
    writer.write(owner, body, this.cursor);
    return this.seal();
  }

  /** Where the next body begins: the end of the last one added. */
  private end(): number {
    return this.ends.length === 0 ? 0 : (this.ends[this.ends.length - 1] as number);
  }

  /** Ends the body written from end() to the cursor: hashes it, keeps the hash's bytes and its end. */
  private seal(): string {
    const i = this.ends.length;
    const from = this.end();
    const end = this.cursor.at;
    // Hashed as hex straight from the body's bytes (on libsodium, in its heap: no per-call allocation and copies; bench/billing at 100k: ~0.05–0.4 s less a close), kept as bytes from the hex.
    const hash = blake2b256Hex(this.cursor.data.subarray(from, end), end - from);
    if (this.hashes.length < (i + 1) * HASH_BYTES) this.hashes = grown(this.hashes, i * HASH_BYTES, (i + 1) * HASH_BYTES);
    this.hashes.write(hash, i * HASH_BYTES, 'hex');
    this.ends.push(end);
    return hash;
  }

  /** Body `i`'s canonical JSON, as UTF-8 (a view, not a copy). */
  body(i: number): Buffer {
    if (!Number.isInteger(i) || i < 0 || i >= this.ends.length) throw new RangeError(`IssuedBodies.body: index must be 0 to ${this.ends.length - 1}`);
    return this.cursor.data.subarray(i === 0 ? 0 : this.ends[i - 1], this.ends[i]);
  }

  /** Every body's hash, 32 bytes each, in the order added (a view). */
  hashBytes(): Uint8Array {
    return this.hashes.subarray(0, this.ends.length * HASH_BYTES);
  }
}

/** A copy of the first `used` bytes of `buf` in a buffer of at least `need` (and at least twice the old) bytes. */
function grown(buf: Buffer, used: number, need: number): Buffer {
  const bigger = Buffer.allocUnsafe(Math.max(2 * buf.length, need));
  buf.copy(bigger, 0, 0, used);
  return bigger;
}
