// The money log's checkpoint row in PostgreSQL (money_checkpoint, its unchanging parts in money_checkpoint_part): written in an append's transaction, read back whole at open.
import type pg from 'pg';
import { joinCheckpoint, partNames, splitCheckpoint, type KnownPart } from '../../billing/checkpoint-parts.js';
import { namedPositions } from '../../billing/money-checkpoint.js';
import type { MoneyRecord } from '../../billing/money-record.js';
import type { MoneyCheckpoint } from '../../billing/money-store.js';
import type { PgDatabase } from './pg-database.js';

/** Bytes of the body read per query: a slice comes back as base64 text (4/3 of this as a string; V8's longest string is ~512 M characters). */
const BODY_SLICE = 64 * 1024 * 1024;
/** Records read per query when fetching the receipts a checkpoint names by position. */
const POSITIONS_PAGE = 10_000;

/** The records at some positions (by primary key: one index probe each, never a scan of the log). */
export const NAMED_RECORDS_SQL = 'SELECT seq, record FROM money_log WHERE seq = ANY($1::bigint[])';
/**
 * One part by name (primary key), as base64: node-postgres reads every result field as a string, and a
 * bytea's default hex text is twice its size (bench/README: a 24.5 MB body read as base64 took half the
 * client CPU of hex, 124–156 against 282–306 ms). Whitespace the server's encode puts in is skipped by Buffer.from.
 */
const PART_SQL = "SELECT encode(bytes, 'base64') AS text FROM money_checkpoint_part WHERE name = $1";

/**
 * What this process knows of the part rows: the parts the last committed checkpoint named (by the
 * encoder's key), and the names of parts the open verified (their checkpoint's digest matched with them
 * joined in). Only these are not written again; any other part is written once by this process, and a
 * row already there with other bytes is overwritten, so a damaged part is never named twice.
 */
export class CheckpointPartRows {
  private known = new Map<string, KnownPart>();
  private readonly verified: Set<string>;

  constructor(verified: Iterable<string> = []) {
    this.verified = new Set(verified);
  }

  /**
   * Writes the checkpoint row in the caller's transaction, naming the money_log row it stands after by
   * seq and by its record's md5; with bytes, first the parts not yet written, and after it the deletion
   * of parts it no longer names. Answers what to remember once the transaction commits (nothing if the
   * named row is not a counted one: then nothing is written; the checkpoint must never fail the append).
   */
  async write(client: pg.ClientBase, checkpoint: MoneyCheckpoint): Promise<(() => void) | undefined> {
    const position = String(checkpoint.position);
    if ('text' in checkpoint) {
      const written = await client.query(
        `INSERT INTO money_checkpoint (id, seq, tip, state, body, parts)
           SELECT 1, seq, md5(record::text), $2, NULL, NULL FROM money_log WHERE seq = $1 AND NOT abandoned
         ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, tip = EXCLUDED.tip, state = EXCLUDED.state, body = NULL, parts = NULL, written_at = now()`,
        [position, checkpoint.text],
      );
      if (written.rowCount === 0) return undefined;
      await client.query('DELETE FROM money_checkpoint_part');
      return () => void (this.known = new Map());
    }
    const { body, refs, parts } = splitCheckpoint(checkpoint, this.known);
    const written = await client.query(
      `INSERT INTO money_checkpoint (id, seq, tip, state, body, parts)
         SELECT 1, seq, md5(record::text), NULL, $2, $3 FROM money_log WHERE seq = $1 AND NOT abandoned
       ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, tip = EXCLUDED.tip, state = NULL, body = EXCLUDED.body, parts = EXCLUDED.parts, written_at = now()`,
      [position, Buffer.concat(body), JSON.stringify(refs)],
    );
    if (written.rowCount === 0) return undefined;
    for (const part of parts) {
      if (!part.fresh || this.verified.has(part.name)) continue;
      await client.query(
        `INSERT INTO money_checkpoint_part (name, bytes) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET bytes = EXCLUDED.bytes WHERE money_checkpoint_part.bytes IS DISTINCT FROM EXCLUDED.bytes`,
        [part.name, Buffer.concat(part.chunks)],
      );
    }
    const names = parts.map((p) => p.name);
    await client.query('DELETE FROM money_checkpoint_part WHERE NOT (name = ANY($1::text[]))', [names]);
    return () => {
      this.known = new Map(parts.map((p) => [p.key, { name: p.name, length: p.length }]));
    };
  }
}

/** A checkpoint as stored, ready for ReceiptLog's restore: its text or joined bytes, and the records it names by position, read already. */
export interface StoredCheckpoint {
  readonly seq: string;
  readonly checkpoint: string | Buffer;
  /** Names of the parts joined into the bytes (verified once the restore takes the checkpoint). */
  readonly parts: readonly string[];
  /** The records the checkpoint names by position, synchronously (restore's read). */
  readonly read: (positions: readonly number[]) => MoneyRecord[];
}

/**
 * Reads the checkpoint row when the money_log row it names is still there, unchanged and counted: format 1
 * text (an older build's row) as it is; format 2 as its body (in slices) with its parts joined back, and
 * the live receipts it names by position read in pages. Null when there is none, or a part is missing
 * or of another length (the start then replays every record); the digest check is the decoder's.
 * `sliceBytes`: the body's bytes read per query (tests read a small body in many slices).
 */
export async function readCheckpoint(db: PgDatabase, sliceBytes = BODY_SLICE): Promise<StoredCheckpoint | null> {
  const rows = await db.query<{ seq: string; tip: string; state: string | null; body_length: number | null; parts: unknown }>(
    'money_log.open',
    'SELECT c.seq, c.tip, c.state, octet_length(c.body) AS body_length, c.parts FROM money_checkpoint c JOIN money_log m ON m.seq = c.seq AND NOT m.abandoned AND md5(m.record::text) = c.tip WHERE c.id = 1',
  );
  const row = rows[0];
  if (!row) return null;
  if (row.state !== null) return { seq: row.seq, checkpoint: row.state, parts: [], read: () => [] };
  if (row.body_length === null) return null;
  const body = await readBody(db, row.seq, row.tip, row.body_length, sliceBytes);
  const names = row.parts === null ? [] : partNames(row.parts);
  if (body === null || names === null) return null;
  const bytes = new Map<string, Buffer>();
  for (const name of new Set(names)) {
    const [part] = await db.query<{ text: string }>('money_log.checkpoint', PART_SQL, [name]);
    if (!part) return null;
    bytes.set(name, Buffer.from(part.text, 'base64'));
  }
  const joined = joinCheckpoint(body, row.parts ?? undefined, (name) => bytes.get(name) ?? null);
  if (joined === null) return null;
  bytes.clear();
  const records = await recordsAt(db, namedPositions(joined));
  return {
    seq: row.seq,
    checkpoint: joined,
    parts: names,
    read: (positions) =>
      positions.map((p) => {
        const r = records.get(p);
        if (r === undefined) throw new Error(`checkpoint names position ${p}, which was not read`);
        return r;
      }),
  };
}

/** The body in slices (as base64, PART_SQL says why) of the row still standing at (seq, tip); null if the row changed meanwhile. */
async function readBody(db: PgDatabase, seq: string, tip: string, length: number, sliceBytes: number): Promise<Buffer | null> {
  const slices: Buffer[] = [];
  for (let from = 0; from < length || slices.length === 0; from += sliceBytes) {
    const [slice] = await db.query<{ text: string }>('money_log.checkpoint', "SELECT encode(substring(body FROM $1 FOR $2), 'base64') AS text FROM money_checkpoint WHERE id = 1 AND seq = $3 AND tip = $4", [from + 1, sliceBytes, seq, tip]);
    if (!slice) return null;
    slices.push(Buffer.from(slice.text, 'base64'));
  }
  const body = Buffer.concat(slices);
  return body.length === length ? body : null;
}

/** The records at some positions, by position (pages of POSITIONS_PAGE); a position with no row is left out. */
async function recordsAt(db: PgDatabase, positions: readonly number[]): Promise<Map<number, MoneyRecord>> {
  const out = new Map<number, MoneyRecord>();
  for (let i = 0; i < positions.length; i += POSITIONS_PAGE) {
    const page = positions.slice(i, i + POSITIONS_PAGE).map(String);
    const rows = await db.query<{ seq: string; record: MoneyRecord }>('money_log.checkpoint', NAMED_RECORDS_SQL, [page]);
    for (const r of rows) out.set(Number(r.seq), r.record);
  }
  return out;
}
