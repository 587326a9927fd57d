// Migration 5: what lets a start read no log whole: the money log's checkpoint, and indexes for reading receipts and archived orders by key.

/** The schema version this step brings the database to. */
export const version = 5;

/** What the step does, recorded in schema_migrations. */
export const name = 'start-from-checkpoint';

/**
 * One row (id 1): the money_log seq the state stands after, md5 of that row's record (a checkpoint
 * whose row is gone, abandoned or different is not used), and the state as text (money-checkpoint.ts).
 * It is written in the same transaction as money_log appends, so it is never ahead of the log.
 * The first index serves ReceiptLog's read-back of a deployment's receipt positions; the archive's two
 * give each customer's and each /64's newest orders from the front of an index (seq breaks ties).
 */
export const sql = `
CREATE TABLE money_checkpoint (
  id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  seq bigint NOT NULL,
  tip text NOT NULL,
  state text NOT NULL,
  written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX money_log_deployment_receipts ON money_log (deployment, seq) WHERE kind = 'receipt' AND NOT abandoned;
CREATE INDEX order_archive_customer_newest ON order_archive (customer, created_at_ms DESC, seq DESC);
CREATE INDEX order_archive_subnet_newest ON order_archive (subnet, created_at_ms DESC, seq DESC) WHERE subnet IS NOT NULL;
DROP INDEX order_archive_customer;
DROP INDEX order_archive_subnet;
`;
