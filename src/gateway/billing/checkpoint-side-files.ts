// The unchanging parts of receipts.log's checkpoint (committed trees' leaves) kept in side files beside it, written once each instead of with every checkpoint.
import { readdirSync, unlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { writeSecureFile } from '../../identity/index.js';
import { readOptionalStoreBytes } from '../store/optional-store-file.js';
import type { CheckpointBytes } from './money-store.js';

/** Where a side file's bytes go in the checkpoint's body (after its header line), as the checkpoint's header names them. */
export interface SideRef {
  readonly at: number;
  readonly length: number;
  /** The first 32 hex digits of the SHA-256 of its bytes: the file is `<checkpoint>.leaves-<name>`. */
  readonly name: string;
}

const NAME = /^[0-9a-f]{32}$/;

/**
 * Side files of one checkpoint path. A side file is reused only if this process wrote it (a file left
 * from before is written again once, so a damaged one is never named twice); files no checkpoint names
 * any more are removed after the checkpoint that dropped them is in place.
 */
export class CheckpointSideFiles {
  /** Side files this process wrote, by the checkpoint's key for their chunks. */
  private readonly written = new Map<string, { name: string; length: number }>();

  constructor(private readonly checkpointPath: string) {}

  /**
   * Writes the unchanging chunks not yet written (each range into its own file, fsynced) and answers the
   * chunks left for the checkpoint file itself and where the side files' bytes go. Throws SecureFileError
   * when a side file cannot be written (then no checkpoint is written).
   */
  split(checkpoint: CheckpointBytes): { parts: Uint8Array[]; sides: SideRef[] } {
    const parts: Uint8Array[] = [];
    const sides: SideRef[] = [];
    let at = 0;
    let next = 0;
    for (const range of checkpoint.unchanging) {
      for (; next < range.from; next++) {
        const chunk = checkpoint.bytes[next] as Uint8Array;
        parts.push(chunk);
        at += chunk.length;
      }
      const chunks = checkpoint.bytes.slice(range.from, range.to);
      const length = chunks.reduce((sum, c) => sum + c.length, 0);
      let file = this.written.get(range.key);
      if (file?.length !== length) {
        const hash = createHash('sha256');
        for (const c of chunks) hash.update(c);
        file = { name: hash.digest('hex').slice(0, 32), length };
        writeSecureFile(this.pathOf(file.name), chunks);
        this.written.set(range.key, file);
      }
      sides.push({ at, length, name: file.name });
      at += length;
      next = range.to;
    }
    for (; next < checkpoint.bytes.length; next++) parts.push(checkpoint.bytes[next] as Uint8Array);
    return { parts, sides };
  }

  /** Removes side files the checkpoint now in place does not name (best effort: a file left over is removed next time). */
  prune(sides: readonly SideRef[]): void {
    const named = new Set(sides.map((s) => s.name));
    for (const [key, file] of this.written) if (!named.has(file.name)) this.written.delete(key);
    const prefix = `${basename(this.checkpointPath)}.leaves-`;
    let names: string[];
    try {
      names = readdirSync(dirname(this.checkpointPath));
    } catch {
      return;
    }
    for (const f of names) {
      if (!f.startsWith(prefix) || named.has(f.slice(prefix.length))) continue;
      try {
        unlinkSync(join(dirname(this.checkpointPath), f));
      } catch {
        // Gone already, or not ours to remove: the log does not depend on it.
      }
    }
  }

  /** The checkpoint's body with its side files' bytes put back where they were; null when one is missing, of another length, or the references are malformed. */
  join(body: Buffer, sides: unknown): Buffer | null {
    if (sides === undefined) return body;
    if (!Array.isArray(sides)) return null;
    const parts: Buffer[] = [];
    let from = 0;
    let at = 0;
    for (const s of sides as Array<Partial<SideRef>>) {
      if (typeof s !== 'object' || s === null || typeof s.name !== 'string' || !NAME.test(s.name) || !Number.isSafeInteger(s.at) || !Number.isSafeInteger(s.length)) return null;
      const gap = (s.at as number) - at;
      if (gap < 0 || from + gap > body.length) return null;
      parts.push(body.subarray(from, from + gap));
      from += gap;
      const side = readOptionalStoreBytes(this.pathOf(s.name));
      if (side === null || side.length !== s.length) return null;
      parts.push(side);
      at += gap + side.length;
    }
    parts.push(body.subarray(from));
    return Buffer.concat(parts);
  }

  private pathOf(name: string): string {
    return `${this.checkpointPath}.leaves-${name}`;
  }
}
