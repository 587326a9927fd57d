// The fence every durable write passes: only the gateway that holds the active lease may write.

/**
 * Checked inside every write transaction of a shared backend (PostgreSQL), before the write, by the
 * same database connection: `check` throws `FencedError` when this gateway no longer holds the
 * active lease (its token was superseded or its lease ran out), so the transaction rolls back and a
 * stale active gateway (paused, cut off, then woken) writes nothing. The embedded backend has one
 * process by construction and needs no fence.
 *
 * `Q` is the query surface of the connection (node-postgres' `PoolClient`), kept generic here so the
 * Store port does not depend on a driver.
 */
export interface WriteFence<Q> {
  check(connection: Q): Promise<void>;
}

/** This gateway lost the active lease: it must not write, and steps down to standby. */
export class FencedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FencedError';
  }
}
