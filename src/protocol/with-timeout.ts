// withTimeout: a deadline on any promise, for calls to services that may never answer.

/**
 * `work`'s outcome, or a rejection with the error `onTimeout` returns once `ms` have passed
 * first. `onTimeout` is the place to mark the work abandoned: `work` is not cancelled and goes on,
 * so it must clean up after itself. The timer is cleared as soon as either side settles, so a
 * call that answered in time leaves nothing to keep the process alive.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
