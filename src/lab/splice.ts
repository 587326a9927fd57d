// Joins two sockets into one connection, both ways, passing each side's end on to the other instead of cutting both.
import type { Socket } from 'node:net';

/** How long one side may stay open after the other has closed before it is destroyed. */
const LINGER_MS = 10_000;

/**
 * Pipes `a` and `b` into each other; `open` tracks live sockets so a shutdown can destroy them.
 *
 * When one side ends, the other is ended after what it was sent has been flushed, never destroyed
 * at once: an HTTP server may answer before it has read the request body (a refusal, then FIN),
 * and destroying the client's side then lost that answer, so the client saw EPIPE on its next
 * write instead. What the ended side's peer still sends is read and dropped, so the peer can
 * finish writing and then read the answer. An error on one side ends the other the same way.
 */
export function splice(a: Socket, b: Socket, open: Set<Socket>): void {
  open.add(a).add(b);
  join(a, b, open);
  join(b, a, open);
  a.pipe(b);
  b.pipe(a);
}

/** What `from` ending, failing or closing does to `to`. */
function join(from: Socket, to: Socket, open: Set<Socket>): void {
  // `to` can no longer be written once `from` has ended (a socket that is not half-open ends its
  // own writing then too), so whatever `to` still sends is read and dropped.
  const stopForwarding = (): void => {
    to.unpipe(from);
    to.resume();
  };
  from.once('end', stopForwarding);
  from.on('error', () => {
    stopForwarding();
    to.end();
  });
  from.once('close', () => {
    open.delete(from);
    stopForwarding();
    to.end();
    if (!to.destroyed) setTimeout(() => to.destroy(), LINGER_MS).unref();
  });
}
