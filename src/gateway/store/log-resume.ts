// A log's resume file (`<log>.resume`): tips of the log it can be read from, and the reader's state at the newest, so a start reads only the log after a tip it trusts.
import { createHash } from 'node:crypto';
import { SecureFileError, writeSecureFile } from '../../identity/index.js';
import { readOptionalStoreFile } from './optional-store-file.js';
import { AppendLog, type LogTip } from './append-log.js';
import type { RecordLog } from './record-log.js';

/** Bumped when the encoding changes: a resume file of another format is not used (the log is read whole). */
export const RESUME_FORMAT = 1;

/** One place the log can be read from: the line at `offset` with its record number and chain hash. */
export interface ResumeTip {
  readonly offset: number;
  readonly n: number;
  readonly head: string;
}

/** What a resume file holds: tips oldest first, and the reader's state at the newest one (when the reader keeps one). */
export interface ResumeFile {
  readonly tips: readonly ResumeTip[];
  readonly state?: unknown;
}

/** The resume file beside a log. */
export function resumePath(logPath: string): string {
  return `${logPath}.resume`;
}

/**
 * Reads a log's resume file: `<sha256 hex of the body>\n<body JSON>`. Null when it is missing, damaged
 * (the digest catches a cut or edited file), or of another format: the caller then reads the log whole.
 */
export function readResume(logPath: string): ResumeFile | null {
  const path = resumePath(logPath);
  const raw = readOptionalStoreFile(path);
  if (raw === null) return null;
  const nl = raw.indexOf('\n');
  if (nl !== 64 || digest(raw.slice(nl + 1)) !== raw.slice(0, nl)) return null;
  try {
    const body = JSON.parse(raw.slice(nl + 1)) as { format?: unknown; tips?: unknown; state?: unknown };
    if (body.format !== RESUME_FORMAT || !Array.isArray(body.tips) || !body.tips.every(isTip)) return null;
    return { tips: body.tips, ...(body.state === undefined ? {} : { state: body.state }) };
  } catch {
    return null;
  }
}

/** The log's tip at `tip` when the log has that line with that number and hash (so never one of another log, nor ahead of this one); else null. */
export function verifiedTip(logPath: string, tip: ResumeTip): LogTip | null {
  const found = AppendLog.tipAt(logPath, tip.offset);
  return found && found.n === tip.n && found.head === tip.head ? found : null;
}

/** How a ResumableLog keeps its resume file. */
export interface ResumeOptions {
  /** Records appended between tips (asked again at each append: a reader whose state grows may space its tips further). */
  readonly every: () => number;
  /** Tips kept (the oldest dropped first). */
  readonly keepTips: number;
  /** The tips found at open (those still in the log), kept on. */
  readonly tips?: readonly ResumeTip[];
  /** The reader's state to store with each new tip (the state after every record appended so far). */
  readonly state?: () => unknown;
}

/**
 * An AppendLog that writes a tip to its resume file every `every` records appended, with the reader's
 * state there (taken just after the append resolved: it holds every record up to the tip, and may
 * hold a few after it, which the next start reads again; a reader's state must take a record twice). The log stays the truth: a tip that cannot be taken or written is skipped, and a start
 * without a usable one reads the log whole.
 */
export class ResumableLog<T> implements RecordLog<T> {
  private tips: ResumeTip[];
  private tippedAt: number;
  private due = false;
  private newest = -1;
  private closed = false;

  constructor(
    private readonly log: AppendLog<T>,
    private readonly options: ResumeOptions,
  ) {
    this.tips = [...(options.tips ?? [])];
    this.tippedAt = this.tips.at(-1)?.n ?? 0;
  }

  get count(): number {
    return this.log.count;
  }

  async append(...records: T[]): Promise<number[]> {
    const offsets = await this.log.append(...records);
    // The newest line whose append resolved: the last of its batch once every record of the batch has resolved.
    for (const offset of offsets) if (offset > this.newest) this.newest = offset;
    if (offsets.length > 0 && !this.due && this.log.count - this.tippedAt >= this.options.every()) {
      // After the callers' continuations: a reader remembers a record once its append resolves, and the state stored with the tip must hold it.
      this.due = true;
      setImmediate(() => {
        this.due = false;
        this.tip(this.newest);
      });
    }
    return offsets;
  }

  close(): void {
    this.closed = true;
    this.log.close();
  }

  /** Records a tip at the line at `offset` (none when it is inside a batch: the next append tries again). */
  private tip(offset: number): void {
    if (this.closed) return;
    const tip = this.log.tipAt(offset);
    if (!tip) return;
    this.tippedAt = tip.n;
    this.tips.push({ offset, n: tip.n, head: tip.head });
    if (this.tips.length > this.options.keepTips) this.tips.splice(0, this.tips.length - this.options.keepTips);
    const body = JSON.stringify({ format: RESUME_FORMAT, tips: this.tips, ...(this.options.state ? { state: this.options.state() } : {}) });
    try {
      writeSecureFile(resumePath(this.log.path), `${digest(body)}\n${body}`);
    } catch (err) {
      // A full disk shows on the log's own next append; the resume file is only a shortcut.
      if (!(err instanceof SecureFileError)) throw err;
    }
  }
}

function isTip(t: unknown): t is ResumeTip {
  const tip = t as Partial<ResumeTip> | null;
  return typeof tip === 'object' && tip !== null && Number.isSafeInteger(tip.offset) && (tip.offset as number) >= 0 && Number.isSafeInteger(tip.n) && typeof tip.head === 'string';
}

/** SHA-256 hex of a side file's body: its first line, so a cut or edited file is refused. */
export function digest(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
