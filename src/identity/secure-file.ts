// Files that hold secrets or money records: written atomically, fsynced, mode 0600, and refused when others can read them.
import { closeSync, constants, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync, readFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { errorMessage } from './error-message.js';

/** Why a secure file could not be read or written. */
export type SecureFileProblem = 'not_found' | 'permissions' | 'exists' | 'io';

/** A secure file that could not be used; the message says what to do. */
export class SecureFileError extends Error {
  constructor(readonly problem: SecureFileProblem, readonly path: string, message: string) {
    super(message);
    this.name = 'SecureFileError';
  }
}

/** Options for writeSecureFile. */
export interface WriteSecureFileOptions {
  /** Refuse to replace an existing file (default false). */
  readonly exclusive?: boolean;
}

/**
 * Writes `data` to `path` so that a crash leaves either the old or the new content, never a
 * mix: a temporary file (mode 0600) beside it is written and fsynced, renamed over `path`,
 * and the folder is fsynced so the rename itself is durable. `data` may be chunks, written in
 * order (a large file need not be joined into one buffer first).
 */
export function writeSecureFile(path: string, data: string | Uint8Array | readonly Uint8Array[], options: WriteSecureFileOptions = {}): void {
  if (options.exclusive) {
    try {
      statSync(path);
      throw new SecureFileError('exists', path, `${path} already exists; refusing to overwrite it`);
    } catch (err) {
      if (err instanceof SecureFileError) throw err;
    }
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd = -1;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
    for (const bytes of chunks) {
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
    fsyncDir(dirname(path));
  } catch (err) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // The temporary file may not exist; nothing else to undo.
    }
    if (err instanceof SecureFileError) throw err;
    throw new SecureFileError('io', path, `cannot write ${path}: ${errorMessage(err)}`);
  }
}

/** fsyncs a folder, so that a rename or a new file in it survives a crash. */
export function fsyncDir(path: string): void {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a secure file, refusing it when its group or others may read or write it
 * (a secret that others could read is no longer a secret).
 */
export function readSecureFile(path: string): Buffer {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SecureFileError('not_found', path, `${path} does not exist`);
    throw new SecureFileError('io', path, `cannot read ${path}: ${errorMessage(err)}`);
  }
  if ((mode & 0o077) !== 0) {
    const shown = (mode & 0o777).toString(8).padStart(4, '0');
    throw new SecureFileError(
      'permissions',
      path,
      `${path} has mode ${shown}: others can read it. Run \`chmod 600 ${path}\` (and rotate the secret if it leaked).`,
    );
  }
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SecureFileError('io', path, `cannot read ${path}: ${errorMessage(err)}`);
  }
}
