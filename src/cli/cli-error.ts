// The error a command throws for bad input: the CLI prints its one line and exits 2.

/** Bad input to a command; the message is one line that says what to fix. */
export class UsageError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'UsageError';
  }
}
