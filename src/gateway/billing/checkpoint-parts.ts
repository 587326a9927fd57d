// Splitting a bytes checkpoint into its body and its unchanging parts (named by content), and joining them back: shared by receipts.log's side files and PostgreSQL's part rows.
import { createHash } from 'node:crypto';
import type { CheckpointBytes } from './money-store.js';

/** Where a part's bytes go in the checkpoint's body, as the checkpoint names them. */
export interface PartRef {
  readonly at: number;
  readonly length: number;
  /** The first 32 hex digits of the SHA-256 of its bytes (a side file's suffix, a part row's key). */
  readonly name: string;
}

/** A part's name and length, as a store remembers it under the checkpoint's key for its chunks. */
export interface KnownPart {
  readonly name: string;
  readonly length: number;
}

/** One unchanging part of a checkpoint being split: its chunks (by reference), and whether the store must write it. */
export interface SplitPart extends KnownPart {
  readonly key: string;
  readonly chunks: readonly Uint8Array[];
  /** Not among the parts the store said it holds (by key and length): write it before the checkpoint that names it. */
  readonly fresh: boolean;
}

const NAME = /^[0-9a-f]{32}$/;

/**
 * Splits a bytes checkpoint: the chunks left for its body, in order, the references to its unchanging
 * parts, and the parts themselves. A part the store already holds under its key (`known`) is not hashed
 * again: a committed tree's leaves never change while it is named by that key.
 */
export function splitCheckpoint(checkpoint: CheckpointBytes, known: ReadonlyMap<string, KnownPart>): { body: Uint8Array[]; refs: PartRef[]; parts: SplitPart[] } {
  const body: Uint8Array[] = [];
  const refs: PartRef[] = [];
  const parts: SplitPart[] = [];
  let at = 0;
  let next = 0;
  for (const range of checkpoint.unchanging) {
    for (; next < range.from; next++) {
      const chunk = checkpoint.bytes[next] as Uint8Array;
      body.push(chunk);
      at += chunk.length;
    }
    const chunks = checkpoint.bytes.slice(range.from, range.to);
    const length = chunks.reduce((sum, c) => sum + c.length, 0);
    const held = known.get(range.key);
    const fresh = held?.length !== length;
    let name = held?.name ?? '';
    if (fresh) {
      const hash = createHash('sha256');
      for (const c of chunks) hash.update(c);
      name = hash.digest('hex').slice(0, 32);
    }
    parts.push({ key: range.key, name, length, chunks, fresh });
    refs.push({ at, length, name });
    at += length;
    next = range.to;
  }
  for (; next < checkpoint.bytes.length; next++) body.push(checkpoint.bytes[next] as Uint8Array);
  return { body, refs, parts };
}

/**
 * The names a checkpoint's references give, when they are well formed (the store reads these parts
 * before joining); null when they are malformed. No references (a checkpoint without parts): none.
 */
export function partNames(refs: unknown): string[] | null {
  if (refs === undefined) return [];
  if (!Array.isArray(refs)) return null;
  const names: string[] = [];
  for (const r of refs as Array<Partial<PartRef>>) {
    if (typeof r !== 'object' || r === null || typeof r.name !== 'string' || !NAME.test(r.name) || !Number.isSafeInteger(r.at) || !Number.isSafeInteger(r.length)) return null;
    names.push(r.name);
  }
  return names;
}

/**
 * The checkpoint's body with its parts' bytes put back where they were; null when a part is missing, of
 * another length, or the references are malformed. A part's bytes are not checked against its name: the
 * checkpoint's own digest covers the joined body, so a wrong part makes the whole checkpoint unused.
 */
export function joinCheckpoint(body: Buffer, refs: unknown, bytesOf: (name: string) => Uint8Array | null): Buffer | null {
  if (refs === undefined) return body;
  if (partNames(refs) === null) return null;
  const pieces: Uint8Array[] = [];
  let from = 0;
  let at = 0;
  for (const r of refs as PartRef[]) {
    const gap = r.at - at;
    if (gap < 0 || from + gap > body.length) return null;
    pieces.push(body.subarray(from, from + gap));
    from += gap;
    const part = bytesOf(r.name);
    if (part === null || part.length !== r.length) return null;
    pieces.push(part);
    at += gap + part.length;
  }
  pieces.push(body.subarray(from));
  return Buffer.concat(pieces);
}
