// Migration 6: the money log's checkpoint as bytes (format 2), its unchanging parts in rows of their own written once each.

/** The schema version this step brings the database to. */
export const version = 6;

/** What the step does, recorded in schema_migrations. */
export const name = 'money-checkpoint-bytes';

/**
 * The checkpoint row holds either `state` (format 1 text, as migration 5's rows and an older build
 * write it) or `body` (format 2 bytes, money-checkpoint.ts) with `parts`: where each unchanging part's
 * bytes go in it (checkpoint-parts.ts PartRef). A part (a committed tree's leaves, ~5 MB at 100k
 * deployments) is a row of money_checkpoint_part keyed by a hash of its bytes, written once and deleted
 * in the transaction of the first checkpoint that no longer names it. Both bytea columns are stored
 * uncompressed (STORAGE EXTERNAL): hashes and binary columns gain little from compression, and a body
 * read in slices (substring) then reads only the slice.
 */
export const sql = `
ALTER TABLE money_checkpoint ALTER COLUMN state DROP NOT NULL;
ALTER TABLE money_checkpoint ADD COLUMN body bytea, ADD COLUMN parts jsonb;
ALTER TABLE money_checkpoint ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE money_checkpoint ADD CONSTRAINT money_checkpoint_one_form CHECK ((state IS NULL) <> (body IS NULL));
CREATE TABLE money_checkpoint_part (
  name text PRIMARY KEY,
  bytes bytea NOT NULL
);
ALTER TABLE money_checkpoint_part ALTER COLUMN bytes SET STORAGE EXTERNAL;
`;
