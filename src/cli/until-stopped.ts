// Waiting for a long-running command to be told to stop (SIGINT from Ctrl-C, or SIGTERM from a supervisor).

/**
 * Resolves on the first SIGINT or SIGTERM, then runs `stop` (if any) and waits for it. An
 * `abort` signal ends the wait early (without running `stop`), and removes the listeners.
 */
export async function untilStopped(stop?: () => Promise<void>, abort?: AbortSignal): Promise<void> {
  let signalled = false;
  await new Promise<void>((resolve) => {
    // Signal listeners do not keep Node's event loop alive; this timer does, until a signal comes.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const done = (): void => {
      clearInterval(keepAlive);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      abort?.removeEventListener('abort', done);
      resolve();
    };
    const onSignal = (): void => {
      signalled = true;
      done();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (abort?.aborted) done();
    else abort?.addEventListener('abort', done);
  });
  if (!signalled) return;
  if (stop) await stop().catch(() => undefined);
}
