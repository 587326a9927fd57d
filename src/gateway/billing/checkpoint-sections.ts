// Binary sections of a money-log checkpoint (format 2): typed arrays written as their bytes, one after another, and read back by length.

/** A typed array kind a section holds. */
type Kind<A> = { new (buffer: ArrayBuffer): A; readonly BYTES_PER_ELEMENT: number };

/** The sections of a checkpoint being written: views of the arrays' bytes (not copies), and their lengths for the checkpoint's JSON part. */
export class SectionWriter {
  readonly chunks: Uint8Array[] = [];
  readonly lengths: number[] = [];

  /** Adds an array's bytes as the next section (kept by reference: the array must not change until it is written). */
  add(a: Uint8Array | Uint32Array | Float64Array): void {
    this.chunks.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    this.lengths.push(a.byteLength);
  }
}

/** Reads the sections a SectionWriter wrote, in order, checking each one's length. */
export class SectionReader {
  private at = 0;
  private next = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly lengths: readonly number[],
  ) {
    let total = 0;
    for (const n of lengths) {
      if (!Number.isSafeInteger(n) || n < 0) throw new Error('checkpoint section of a bad length');
      total += n;
    }
    if (total !== bytes.length) throw new Error(`checkpoint sections add up to ${total} bytes, but ${bytes.length} follow`);
  }

  /** The next section as a typed array in its own (aligned) buffer; `count` elements when given. */
  take<A extends Uint8Array | Uint32Array | Float64Array>(kind: Kind<A>, count?: number): A {
    const n = this.lengths[this.next];
    if (n === undefined) throw new Error('checkpoint has fewer sections than it names');
    if (n % kind.BYTES_PER_ELEMENT !== 0) throw new Error('checkpoint section of a partial element');
    if (count !== undefined && n !== count * kind.BYTES_PER_ELEMENT) throw new Error(`checkpoint section ${this.next} holds ${n} bytes, not ${count} elements`);
    const buffer = new ArrayBuffer(n);
    new Uint8Array(buffer).set(this.bytes.subarray(this.at, this.at + n));
    this.at += n;
    this.next++;
    return new kind(buffer);
  }

  /** Throws unless every section was taken. */
  done(): void {
    if (this.next !== this.lengths.length) throw new Error('checkpoint has more sections than were read');
  }
}
