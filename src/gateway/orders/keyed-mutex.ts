// KeyedMutex: runs tasks one at a time per key (a customer), so two checks of one customer's funds never interleave.

/**
 * A promise chain per key. Tasks of the same key run in call order, one after the other;
 * tasks of different keys run freely. A key's chain is forgotten once it is idle, so the map
 * holds only keys with work in flight (bounded by the callers, not by history).
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `task` after every earlier task of `key` has settled; resolves or rejects with it. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running (for tests and metrics). */
  busyKeys(): number {
    return this.tails.size;
  }
}
