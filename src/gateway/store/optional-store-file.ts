// Reads a 0600 side file of the store that may be absent (a checkpoint, a resume file), mapping its errors to the store's.
import { errorMessage } from '../../identity/error-message.js';
import { SecureFileError, readSecureFile } from '../../identity/index.js';
import { StoreError } from './store.js';

/**
 * The file's text, or null when there is none (the caller then reads its log whole). Loose
 * permissions are a `permissions` StoreError, not a silent fallback: a file others could have
 * written must not decide what a start trusts.
 */
export function readOptionalStoreFile(path: string): string | null {
  return readOptionalStoreBytes(path)?.toString('utf8') ?? null;
}

/** The file's bytes, or null when there is none; errors as readOptionalStoreFile's. */
export function readOptionalStoreBytes(path: string): Buffer | null {
  try {
    return readSecureFile(path);
  } catch (err) {
    if (err instanceof SecureFileError && err.problem === 'permissions') throw new StoreError('permissions', err.message);
    if (err instanceof SecureFileError && err.problem === 'not_found') return null;
    throw new StoreError('io', `${path}: ${errorMessage(err)}`);
  }
}
