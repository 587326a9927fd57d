// FakeTable: a fake of the Store's Table port for unit tests, named as one — a Map, with a count of writes.
import type { Table } from '../../src/gateway/store/store.js';

/** A fake of the Table port: rows in a Map; `puts` counts writes so a test can see what changed. */
export class FakeTable<T> implements Table<T> {
  readonly rows = new Map<string, T>();
  puts = 0;

  get(key: string): T | undefined {
    return this.rows.get(key);
  }

  values(): T[] {
    return [...this.rows.values()];
  }

  size(): number {
    return this.rows.size;
  }

  put(key: string, value: T): Promise<void> {
    this.puts++;
    this.rows.set(key, value);
    return Promise.resolve();
  }

  delete(key: string): Promise<boolean> {
    return Promise.resolve(this.rows.delete(key));
  }
}
