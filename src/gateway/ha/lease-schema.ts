// The lease table: one row per lease name ('active'), holding the holder, its URL, the fencing token and the expiry.

/**
 * Created idempotently by the lease itself until the PostgreSQL store's numbered migrations carry it
 * (as `002-lease`): the lease starts before (and independently of) the store.
 */
export const LEASE_TABLE_SQL = `CREATE TABLE IF NOT EXISTS hypha_lease (
  name text PRIMARY KEY,
  holder text NOT NULL,
  url text NOT NULL,
  token bigint NOT NULL,
  expires_at timestamptz NOT NULL,
  renewed_at timestamptz NOT NULL
)`;

/** The one lease: the right to be the active gateway. */
export const ACTIVE_LEASE = 'active';
