// Where the money log's records live: the port ReceiptLog reads and appends through, and its file adapter (receipts.log, with its checkpoint beside it).
import { SecureFileError, writeSecureFile } from '../../identity/index.js';
import { readOptionalStoreBytes } from '../store/optional-store-file.js';
import { verifiedTip } from '../store/log-resume.js';
import { AppendLog, type EncodedRecords, type LogTip } from '../store/append-log.js';
import { StoreError } from '../store/store.js';
import type { MoneyRecord } from './money-record.js';
import { CheckpointSideFiles, type SideRef } from './checkpoint-side-files.js';

/**
 * ReceiptLog's open state up to the record at `position` (money-checkpoint.ts's encoding), to be stored
 * with an append: text (format 1) for a store that keeps text, or bytes (format 2, chunks to store in
 * order) for a store that says `checkpointBytes`.
 */
export type MoneyCheckpoint = { readonly position: number; readonly text: string } | ({ readonly position: number } & CheckpointBytes);

/** A checkpoint as bytes: chunks to store in order, some of which never change (a store may keep those apart and write them once). */
export interface CheckpointBytes {
  readonly bytes: readonly Uint8Array[];
  readonly unchanging: readonly UnchangingChunks[];
}

/**
 * Chunks [from, to) of a bytes checkpoint whose content never changes while it is named `key` (a
 * committed tree's leaves: hashes, codes and positions), in ascending order, not overlapping.
 */
export interface UnchangingChunks {
  readonly from: number;
  readonly to: number;
  readonly key: string;
}

/**
 * Hands a stored checkpoint (as the store keeps it) to ReceiptLog before any record is replayed, with a
 * way to read records the checkpoint names by position (the file store's); false when ReceiptLog cannot
 * use it (damaged, another format, not at `position`, a named record not there): then every record is replayed.
 */
export type RestoreCheckpoint = (checkpoint: string | Uint8Array, position: number, read?: (positions: readonly number[]) => MoneyRecord[]) => boolean;

/** What an append may carry beside its records. */
export interface AppendOptions {
  /** The records' JSON texts, already written by the caller: as strings, or as UTF-8 bytes back to back. */
  readonly texts?: readonly string[] | EncodedRecords;
  /** ReceiptLog's state as of records already stored. */
  readonly checkpoint?: MoneyCheckpoint;
}

/**
 * The storage of the money log, as small as ReceiptLog needs: append records durably, read back
 * the ones it no longer keeps in memory by position, or a range of them. A position is whatever
 * the store answers for a record (a byte offset in a file, a row id in a database); positions
 * grow with every append, so a range in position order is a range in log order.
 */
export interface MoneyStore {
  /**
   * Appends records in order, durably; answers each one's position. `texts`, when given, are the
   * records' JSON texts already written by the caller (the file store writes them as they are; a
   * store that keeps records otherwise may ignore them). A checkpoint given (of records already
   * stored) is stored too, never ahead of the log: in the same transaction, or after the records.
   */
  append(records: readonly MoneyRecord[], options?: AppendOptions): Promise<number[]>;
  /** The records at these positions, in the order asked. */
  read(positions: readonly number[]): Promise<MoneyRecord[]>;
  /** Every record whose position lies within [from, to], in log order, with its position. */
  readRange(from: number, to: number): Promise<Array<{ readonly position: number; readonly record: MoneyRecord }>>;
  /**
   * A store that can find a deployment's committed receipts by itself (an index) answers their
   * positions up to `upTo`, oldest first; ReceiptLog then keeps no positions older than its checkpoint.
   */
  receiptPositions?(deployment: string, upTo: number): Promise<number[]>;
  /** Whether a checkpoint is stored as bytes (format 2: binary columns); otherwise it is handed as text. */
  readonly checkpointBytes?: boolean;
  close(): void;
}

/** The first line of a checkpoint file: which line of the log it stands after (the log's tip there), and the side files whose bytes belong in its body. */
interface CheckpointHeader {
  readonly position: number;
  readonly n: number;
  readonly head: string;
  readonly sides?: readonly SideRef[];
}

/**
 * The money log in one append-only, hash-chained, fsynced file; positions are byte offsets of lines.
 * Its checkpoint is `<path>.checkpoint` (0600, replaced atomically): a header naming the log line it
 * stands after, with that line's number and chain hash, then ReceiptLog's state. It is used only when
 * that line is in the log with that hash (so never from another log, nor ahead of this one). The
 * state's unchanging parts (committed trees' leaves) lie in side files, `<path>.checkpoint.leaves-*`,
 * written once each (bench/billing at 100k: ~5 MB a tree, eight trees kept, a checkpoint about every close).
 */
export class FileMoneyStore implements MoneyStore {
  readonly checkpointBytes = true;
  private readonly sides: CheckpointSideFiles;

  private constructor(
    private readonly log: AppendLog<MoneyRecord>,
    private readonly checkpointPath: string,
  ) {
    this.sides = new CheckpointSideFiles(checkpointPath);
  }

  /**
   * Opens (or creates) the file. With `restore`, a checkpoint that matches the log is handed to it and
   * only the records after it are replayed; otherwise every record, oldest first, goes to `replay` with
   * its position. The records are not kept. `tornBytes`: an unfinished last line moved aside.
   */
  static open(path: string, replay: (record: MoneyRecord, position: number) => void, restore?: RestoreCheckpoint): { store: FileMoneyStore; tornBytes: number } {
    const checkpointPath = `${path}.checkpoint`;
    const from = restore ? resumeFrom(path, new CheckpointSideFiles(checkpointPath), restore) : null;
    const { log, tornBytes } = AppendLog.open<MoneyRecord>(path, { visit: replay, syncAside: true, ...(from ? { from } : {}) });
    return { store: new FileMoneyStore(log, checkpointPath), tornBytes };
  }

  async append(records: readonly MoneyRecord[], options: AppendOptions = {}): Promise<number[]> {
    const { texts, checkpoint } = options;
    const given = texts === undefined ? records.length : isEncoded(texts) ? texts.ends.length : texts.length;
    if (given !== records.length) throw new RangeError(`FileMoneyStore.append: ${records.length} record(s) but ${given} text(s)`);
    const positions = texts === undefined ? await this.log.append(...records) : isEncoded(texts) ? await this.log.appendEncoded(texts) : await this.log.appendTexts(texts);
    if (checkpoint) this.writeCheckpoint(checkpoint);
    return positions;
  }

  // The file is read synchronously (as it is written); async only because the port is.
  // eslint-disable-next-line @typescript-eslint/require-await
  async read(positions: readonly number[]): Promise<MoneyRecord[]> {
    return this.log.readAt(positions);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async readRange(from: number, to: number): Promise<Array<{ readonly position: number; readonly record: MoneyRecord }>> {
    const out: Array<{ position: number; record: MoneyRecord }> = [];
    this.log.readRange(from, to, (record, position) => out.push({ position, record }));
    return out;
  }

  close(): void {
    this.log.close();
  }

  /**
   * Replaces the checkpoint file (temp file, fsync, rename, fsync of the folder). The records it
   * covers are already fsynced, so a crash at any point leaves a checkpoint at or behind the log.
   * A checkpoint that cannot be written is skipped: the log stays the truth, the next start replays more.
   */
  private writeCheckpoint(checkpoint: MoneyCheckpoint): void {
    const tip = this.log.tipAt(checkpoint.position);
    if (!tip) throw new StoreError('corrupt', `${this.log.path}: no whole line at byte ${checkpoint.position}, where a checkpoint was to stand`);
    const header: CheckpointHeader = { position: checkpoint.position, n: tip.n, head: tip.head };
    try {
      if ('text' in checkpoint) {
        writeSecureFile(this.checkpointPath, `${JSON.stringify(header)}\n${checkpoint.text}`);
        this.sides.prune([]);
        return;
      }
      // Side files first: the checkpoint that names them is renamed into place only once they are fsynced.
      const { parts, sides } = this.sides.split(checkpoint);
      writeSecureFile(this.checkpointPath, [Buffer.from(`${JSON.stringify({ ...header, sides })}\n`, 'utf8'), ...parts]);
      this.sides.prune(sides);
    } catch (err) {
      // A full disk shows on the next append of the log itself; the checkpoint is only a shortcut.
      if (!(err instanceof SecureFileError)) throw err;
    }
  }
}

function isEncoded(texts: readonly string[] | EncodedRecords): texts is EncodedRecords {
  return !Array.isArray(texts);
}

/** The log tip to resume after when the checkpoint file matches the log and ReceiptLog took its state; else null. */
function resumeFrom(path: string, sides: CheckpointSideFiles, restore: RestoreCheckpoint): LogTip | null {
  const raw = readOptionalStoreBytes(`${path}.checkpoint`);
  if (raw === null) return null;
  const nl = raw.indexOf(0x0a);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(raw.toString('utf8', 0, nl)) as CheckpointHeader;
  } catch {
    return null;
  }
  if (nl < 0 || !Number.isSafeInteger(header.position) || header.position < 0) return null;
  const tip = verifiedTip(path, { offset: header.position, n: header.n, head: header.head });
  if (!tip) return null;
  const body = sides.join(raw.subarray(nl + 1), header.sides);
  return body !== null && restore(body, header.position, (positions) => AppendLog.readAt<MoneyRecord>(path, positions)) ? tip : null;
}
