// The unchanging parts of receipts.log's checkpoint (committed trees' leaves) kept in side files beside it, written once each instead of with every checkpoint.
import { readdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeSecureFile } from '../../identity/index.js';
import { readOptionalStoreBytes } from '../store/optional-store-file.js';
import { joinCheckpoint, splitCheckpoint, type KnownPart, type PartRef } from './checkpoint-parts.js';
import type { CheckpointBytes } from './money-store.js';

/** Where a side file's bytes go in the checkpoint's body (after its header line): the file is `<checkpoint>.leaves-<name>`. */
export type SideRef = PartRef;

/**
 * Side files of one checkpoint path. A side file is reused only if this process wrote it (a file left
 * from before is written again once, so a damaged one is never named twice); files no checkpoint names
 * any more are removed after the checkpoint that dropped them is in place.
 */
export class CheckpointSideFiles {
  /** Side files this process wrote, by the checkpoint's key for their chunks. */
  private readonly written = new Map<string, KnownPart>();

  constructor(private readonly checkpointPath: string) {}

  /**
   * Writes the unchanging chunks not yet written (each range into its own file, fsynced) and answers the
   * chunks left for the checkpoint file itself and where the side files' bytes go. Throws SecureFileError
   * when a side file cannot be written (then no checkpoint is written).
   */
  split(checkpoint: CheckpointBytes): { parts: Uint8Array[]; sides: SideRef[] } {
    const { body, refs, parts } = splitCheckpoint(checkpoint, this.written);
    for (const part of parts) {
      if (!part.fresh) continue;
      writeSecureFile(this.pathOf(part.name), part.chunks);
      this.written.set(part.key, { name: part.name, length: part.length });
    }
    return { parts: body, sides: refs };
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
    return joinCheckpoint(body, sides, (name) => readOptionalStoreBytes(this.pathOf(name)));
  }

  private pathOf(name: string): string {
    return `${this.checkpointPath}.leaves-${name}`;
  }
}
