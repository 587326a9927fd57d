// Waiting for a long-running command to be told to stop (SIGINT from Ctrl-C, or SIGTERM from a supervisor).

/** Resolves on the first SIGINT or SIGTERM, then runs `stop` (if any) and waits for it. */
export async function untilStopped(stop?: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    // Signal listeners do not keep Node's event loop alive; this timer does, until a signal comes.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const onSignal = (): void => {
      clearInterval(keepAlive);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  if (stop) await stop().catch(() => undefined);
}
