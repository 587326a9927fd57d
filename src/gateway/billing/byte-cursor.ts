// A growable byte buffer written piece by piece at a cursor: a close's receipt bodies are written into it without a string per body.

/** Where a receipt body's canonical JSON is written piece by piece (ReceiptBodyText.write). */
export interface BodySink {
  /** Appends bytes as they are. */
  bytes(b: Uint8Array): void;
  /** Appends a string one byte per character when every character is ASCII (no encoder call); as UTF-8 otherwise. */
  ascii(s: string): void;
  /** Appends any string as UTF-8. */
  utf8(s: string): void;
  /** Appends `"s"`: the JSON of a string the caller checked needs no escapes and is ASCII (written one byte a character). */
  plainQuoted(s: string): void;
}

/** Printable ASCII but `"` and `\`: the JSON of such a string (JSON.stringify's and canonicalJson's alike) is the string in quotes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Whether `s` can be written with plainQuoted: its JSON needs no escapes and is ASCII. */
export function isPlain(s: string): boolean {
  return PLAIN.test(s);
}

/** A buffer and a write position in it; grown (its bytes before the position copied) when a piece would not fit. */
export class ByteCursor implements BodySink {
  /** The bytes; valid up to `at`. Replaced by a bigger buffer when it grows. */
  data: Buffer;
  /** Where the next piece is written. */
  at = 0;

  /** `allocate`: how a buffer is made (shared memory, for a close's bodies that a worker hashes). */
  constructor(
    size: number,
    private readonly allocate: (bytes: number) => Buffer = (bytes) => Buffer.allocUnsafe(bytes),
  ) {
    this.data = allocate(Math.max(1, size));
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.data.set(b, this.at);
    this.at += b.length;
  }

  ascii(s: string): void {
    this.room(s.length);
    const d = this.data;
    const from = this.at;
    let a = from;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) {
        // Not ASCII after all: written again from its start, encoded.
        this.at = from;
        this.utf8(s);
        return;
      }
      d[a++] = c;
    }
    this.at = a;
  }

  plainQuoted(s: string): void {
    this.room(s.length + 2);
    const d = this.data;
    const from = this.at;
    let a = from;
    d[a++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) {
        // Not ASCII after all (the caller's check was wrong): written again from its start, encoded.
        this.at = from;
        this.utf8(`"${s}"`);
        return;
      }
      d[a++] = c;
    }
    d[a++] = 0x22;
    this.at = a;
  }

  utf8(s: string): void {
    // Up to 3 bytes per UTF-16 unit: grown before a write could be cut short.
    this.room(3 * s.length);
    this.at += this.data.write(s, this.at, 'utf8');
  }

  /** A fresh buffer of `bytes` (the bytes so far are dropped: only at a reset, when `at` is 0). */
  reserve(bytes: number): void {
    this.data = this.allocate(bytes);
  }

  /** Makes room for `n` more bytes after `at`: a buffer at least twice as big, with the bytes so far. */
  private room(n: number): void {
    if (this.data.length - this.at >= n) return;
    const bigger = this.allocate(Math.max(2 * this.data.length, this.at + n));
    this.data.copy(bigger, 0, 0, this.at);
    this.data = bigger;
  }
}
