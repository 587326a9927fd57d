// The messages between the close hasher (the gateway's main thread) and its worker, declared once for both ends.

/** To the worker. */
export type ToCloseHasher =
  /** Hash bodies of close `close`: in `data` (shared memory) from `from` to each of `ends` in turn; answered by `hashed` with `id`. */
  | { readonly t: 'hash'; readonly id: number; readonly close: number; readonly data: SharedArrayBuffer; readonly from: number; readonly ends: Float64Array }
  /** The root of close `close`'s tree; the worker forgets the close. Answered by `root` with `id`. */
  | { readonly t: 'root'; readonly id: number; readonly close: number }
  /** Forget close `close` (it failed or was given up). */
  | { readonly t: 'drop'; readonly close: number };

/** From the worker. */
export type FromCloseHasher =
  | { readonly t: 'hashed'; readonly id: number; readonly hashes: Uint8Array }
  | { readonly t: 'root'; readonly id: number; readonly root: Uint8Array }
  /** A job could not be done (a bad range): the close fails rather than go on with wrong hashes. */
  | { readonly t: 'failed'; readonly id: number; readonly message: string };
