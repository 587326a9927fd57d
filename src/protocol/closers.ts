// Undo steps of a start-up (a gateway, an agent, a bench lab), run once in reverse when it fails or closes.

/** A step that undoes one piece of set-up. */
export type CloseStep = () => Promise<void> | void;

/**
 * The undo list of one start-up: each part that opens something adds the step that closes it, and
 * `run` undoes them once, newest first, whoever asks first (a failed start, a close, a signal). A
 * step that throws is reported to `onError` and the rest still run, so one stuck part cannot keep
 * the others open.
 */
export class Closers {
  private readonly steps: CloseStep[] = [];
  private running: Promise<void> | undefined;

  /** Whether `run` has begun: set-up still in progress must stop adding and give up. */
  get started(): boolean {
    return this.running !== undefined;
  }

  /** Adds the undo step of the part just opened. */
  add(step: CloseStep): void {
    this.steps.push(step);
  }

  /** Runs every step once, newest first; later calls return the same promise. */
  run(onError: (err: unknown) => void): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length > 0) {
        const step = this.steps.pop() as CloseStep;
        try {
          await step();
        } catch (err) {
          onError(err);
        }
      }
    })();
    return this.running;
  }
}
