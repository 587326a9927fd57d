// A small typed event emitter: parts of a process tell each other what happened without holding each other.

/** Event names mapped to their listener's argument list. */
export type EventMap = { readonly [name: string]: readonly unknown[] };

/** The emitting side, for a part that only announces. */
export interface Emits<E extends EventMap> {
  emit<K extends keyof E & string>(name: K, ...args: E[K]): void;
}

/**
 * Listeners by event name, called in the order they were added. A listener that throws is isolated
 * (reported to `onListenerError`), so one subscriber's bug cannot break the emitter's own work.
 */
export class TypedEmitter<E extends EventMap> implements Emits<E> {
  // Listeners are stored untyped; `on` is the only way in, so each list holds its event's listener type.
  private readonly listeners = new Map<keyof E, unknown[]>();

  constructor(private readonly onListenerError: (name: string, err: unknown) => void = () => undefined) {}

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof E & string>(name: K, listener: (...args: E[K]) => void): () => void {
    const list = this.listeners.get(name) ?? [];
    list.push(listener);
    this.listeners.set(name, list);
    return () => {
      const at = list.indexOf(listener);
      if (at >= 0) list.splice(at, 1);
    };
  }

  emit<K extends keyof E & string>(name: K, ...args: E[K]): void {
    for (const listener of [...(this.listeners.get(name) ?? [])]) {
      try {
        (listener as (...a: E[K]) => void)(...args);
      } catch (err) {
        this.onListenerError(name, err);
      }
    }
  }
}
