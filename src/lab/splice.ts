// Joins two sockets into one connection, both ways, and forgets both when either ends.
import type { Socket } from 'node:net';

/** Pipes `a` and `b` into each other; `open` tracks live sockets so a shutdown can destroy them. */
export function splice(a: Socket, b: Socket, open: Set<Socket>): void {
  open.add(a).add(b);
  const drop = (): void => {
    a.destroy();
    b.destroy();
    open.delete(a);
    open.delete(b);
  };
  a.on('error', drop).on('close', drop);
  b.on('error', drop).on('close', drop);
  a.pipe(b);
  b.pipe(a);
}
