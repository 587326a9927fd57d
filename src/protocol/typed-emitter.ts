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
  // A list is never changed in place: adding or removing one makes a new list, so `emit` walks the
  // list as it was when it started without copying it (a copy per emit was an array per heartbeat).
  private readonly listeners = new Map<keyof E, readonly unknown[]>();

  constructor(private readonly onListenerError: (name: string, err: unknown) => void = () => undefined) {}

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof E & string>(name: K, listener: (...args: E[K]) => void): () => void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
    return () => {
      const list = this.listeners.get(name) ?? [];
      const at = list.indexOf(listener);
      if (at >= 0) this.listeners.set(name, [...list.slice(0, at), ...list.slice(at + 1)]);
    };
  }

  emit<K extends keyof E & string>(name: K, ...args: E[K]): void {
    const list = this.listeners.get(name);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) {
      try {
        (list[i] as (...a: E[K]) => void)(...args);
      } catch (err) {
        this.onListenerError(name, err);
      }
    }
  }
}
