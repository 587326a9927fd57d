// A lowdb adapter for one JSON file: atomic fsynced writes, mode 0600, and a clear stop on a corrupt file.
import type { Adapter } from 'lowdb';
import { errorMessage } from '../../identity/error-message.js';
import { SecureFileError, readSecureFile, writeSecureFile } from '../../identity/index.js';
import { StoreError } from './store.js';

/**
 * lowdb's JSONFile writes through a temp file but neither fsyncs nor sets the mode; this one
 * does both, and refuses to treat a damaged file as empty: hypha never silently resets data.
 */
export class SecureJsonFile<T> implements Adapter<T> {
  constructor(private readonly path: string) {}

  read(): Promise<T | null> {
    let raw: Buffer;
    try {
      raw = readSecureFile(this.path);
    } catch (err) {
      if (err instanceof SecureFileError && err.problem === 'not_found') return Promise.resolve(null);
      if (err instanceof SecureFileError && err.problem === 'permissions') return Promise.reject(new StoreError('permissions', err.message));
      return Promise.reject(new StoreError('io', errorMessage(err)));
    }
    try {
      return Promise.resolve(JSON.parse(raw.toString('utf8')) as T);
    } catch (err) {
      return Promise.reject(
        new StoreError(
          'corrupt',
          `${this.path} is damaged (${raw.length === 0 ? 'empty' : errorMessage(err)}). hypha never resets its data: ` +
            'restore the file from a backup, or move it away to start with an empty store.',
        ),
      );
    }
  }

  write(data: T): Promise<void> {
    try {
      writeSecureFile(this.path, JSON.stringify(data));
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(new StoreError('io', errorMessage(err)));
    }
  }
}
