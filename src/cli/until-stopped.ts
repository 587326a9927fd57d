// Waiting for a long-running command to be told to stop (SIGINT from Ctrl-C, or SIGTERM from a supervisor).

/** Resolves on the first SIGINT or SIGTERM, then runs `stop` (if any) and waits for it. */
export async function untilStopped(stop?: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  if (stop) await stop().catch(() => undefined);
}
