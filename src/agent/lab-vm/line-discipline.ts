// A terminal's cooked mode and output post-processing, emulated because a lab VM's shell has no real pty.

/** Output post-processing of a terminal (ONLCR): bare "\n" becomes "\r\n". */
export function toCrlf(chunk: Buffer): Buffer {
  return Buffer.from(chunk.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/**
 * A small stand-in for a terminal's cooked mode, because a lab VM has no real pty: echoes what is
 * typed, edits the line (backspace, ^U), sends it on Enter, turns ^C into SIGINT and ^D on an
 * empty line into end-of-file, and drops cursor-key escape sequences.
 */
export class LineDiscipline {
  private line: number[] = [];
  /** 0: plain input; 1: after ESC; 2: inside an escape sequence, until its final byte. */
  private escape = 0;

  constructor(
    private readonly echo: (bytes: Buffer) => void,
    private readonly deliver: (line: Buffer) => void,
    private readonly interrupt: () => void,
    private readonly endOfFile: () => void,
  ) {}

  /** Handles bytes typed by the client, in order. */
  feed(chunk: Uint8Array): void {
    for (const byte of chunk) this.byte(byte);
  }

  private byte(byte: number): void {
    if (this.escape === 1) {
      this.escape = byte === 0x5b || byte === 0x4f ? 2 : 0;
      return;
    }
    if (this.escape === 2) {
      if (byte >= 0x40 && byte <= 0x7e) this.escape = 0;
      return;
    }
    switch (byte) {
      case 0x0d:
      case 0x0a:
        this.echo(Buffer.from('\r\n'));
        this.line.push(0x0a);
        this.flush();
        return;
      case 0x7f:
      case 0x08:
        if (this.line.length > 0) {
          // Drop a whole UTF-8 character: its continuation bytes, then its first byte.
          while (this.line.length > 0 && ((this.line[this.line.length - 1] as number) & 0xc0) === 0x80) this.line.pop();
          this.line.pop();
          this.echo(Buffer.from('\b \b'));
        }
        return;
      case 0x15:
        this.echo(Buffer.from('\b \b'.repeat(this.line.length)));
        this.line = [];
        return;
      case 0x03:
        this.echo(Buffer.from('^C\r\n'));
        this.line = [];
        this.interrupt();
        return;
      case 0x04:
        if (this.line.length === 0) this.endOfFile();
        else this.flush();
        return;
      case 0x1b:
        this.escape = 1;
        return;
      default:
        if (byte < 0x20 && byte !== 0x09) return;
        this.line.push(byte);
        this.echo(Buffer.from([byte]));
    }
  }

  private flush(): void {
    this.deliver(Buffer.from(this.line));
    this.line = [];
  }
}
