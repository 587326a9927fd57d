// Migration 3: the money log's checkpoint (ReceiptLog's open state), so a start replays only the rows after it.

/** The schema version this step brings the database to. */
export const version = 3;

/** What the step does, recorded in schema_migrations. */
export const name = 'money-checkpoint';

/**
 * One row (id 1): the money_log seq the state stands after, md5 of that row's record (a checkpoint
 * whose row is gone, abandoned or different is not used), and the state as text (money-checkpoint.ts).
 * It is written in the same transaction as money_log appends, so it is never ahead of the log.
 * The index serves ReceiptLog's read-back of a deployment's receipt positions (its history's receipts).
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
`;
