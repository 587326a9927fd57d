// Bench lab clean-up: set-up steps undone once, in reverse, at the end of the run or on SIGINT/SIGTERM; and the benches' whole-number options.
import { errorMessage } from '../src/identity/error-message.js';
import { Closers, type CloseStep } from '../src/protocol/closers.js';

/** A step that undoes one piece of set-up. */
export type TeardownStep = CloseStep;

/**
 * Undo steps of one bench run (the gateway's own `Closers`, plus signals): `run()` undoes them once,
 * newest first, whoever asks first (the end of main, or SIGINT/SIGTERM); a step that fails is
 * reported and the rest still run.
 */
export class Teardown {
  private readonly closers = new Closers();
  private running: Promise<void> | undefined;

  /** `bench` names the bench in messages; `first` runs before the steps (stopping processes). */
  constructor(private readonly bench: string, private readonly first: () => Promise<unknown> | void = () => undefined) {
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      process.once(sig, () => {
        process.stderr.write(`${bench}: ${sig}, tearing the lab down\n`);
        void this.run().finally(() => process.exit(code));
      });
    }
  }

  /** Whether the teardown has begun (set-up must stop). */
  get started(): boolean {
    return this.running !== undefined;
  }

  add(step: TeardownStep): void {
    this.closers.add(step);
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      await this.first();
      await this.closers.run((err) => process.stderr.write(`${this.bench}: teardown: ${errorMessage(err)}\n`));
    })();
    return this.running;
  }
}

/** A positive whole-number option, or `fallback` when absent; exits 2 with the usage otherwise. */
export function positiveIntegerOption(bench: string, usage: string, name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`${bench}: --${name} must be a positive whole number, got ${JSON.stringify(text)}\n${usage}\n`);
    process.exit(2);
  }
  return n;
}
