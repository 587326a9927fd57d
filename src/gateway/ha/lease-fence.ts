// The lease-backed write fence: a write transaction goes through only while this gateway's token is the lease's current, unexpired one.
import { FencedError, type WriteFence } from '../store/write-fence.js';
import { ACTIVE_LEASE } from './lease-schema.js';

/** The query surface the fence needs of the write transaction's connection (node-postgres' `ClientBase.query`). */
export interface FenceQueryable {
  query(text: string, values: unknown[]): Promise<{ rowCount: number | null }>;
}

/** What the fence asks of the lease: the token to write under (undefined when not active). */
export interface FenceSource {
  writeToken(): { holder: string; token: number } | undefined;
  /** Called when the database says this token is no longer current. */
  fenced(token: number): void;
}

/**
 * Checks, inside the write's own transaction, that the lease row still names this holder and token
 * and has not expired, and locks it FOR SHARE: a takeover's UPDATE of the row waits for the write to
 * commit, and a write after the takeover finds no row and rolls back. So a gateway paused past its
 * lease (SIGSTOP, a long GC, a network cut) writes nothing when it wakes.
 *
 * A fence made `forTerm` also refuses a write of an earlier term of this same gateway: one that lost
 * the lease and took it again while its old term's parts were still stopping would otherwise let
 * their last writes through under the new token, over what the other gateway wrote in between.
 */
export class LeaseFence implements WriteFence<FenceQueryable> {
  constructor(
    private readonly lease: FenceSource,
    private readonly term?: number,
  ) {}

  /** The fence of one active term: its store is opened with it, so only that term's writes pass. */
  forTerm(term: number): LeaseFence {
    return new LeaseFence(this.lease, term);
  }

  async check(connection: FenceQueryable): Promise<void> {
    const mine = this.lease.writeToken();
    if (mine === undefined) throw new FencedError('write refused: this gateway is a standby (it does not hold the active lease)');
    // Not a reason to step down: the lease is still this gateway's, under a newer term that reloaded state.
    if (this.term !== undefined && mine.token !== this.term) throw new FencedError(`write refused: it belongs to lease term ${this.term}, which ended (this gateway now writes under token ${mine.token})`);
    const { rowCount } = await connection.query(
      'SELECT 1 FROM hypha_lease WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp() FOR SHARE',
      [ACTIVE_LEASE, mine.holder, mine.token],
    );
    if (rowCount !== 1) {
      this.lease.fenced(mine.token);
      throw new FencedError(`write refused: lease token ${mine.token} is no longer current (another gateway took over, or the lease ran out)`);
    }
  }
}
