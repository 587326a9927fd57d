// Migration 1: the state tables, the money log, the timeline, the order archive and the ledger journal.

/** The schema version this step brings the database to. */
export const version = 1;

/** What the step does, recorded in schema_migrations. */
export const name = 'core';

/** The first schema: every table the gateway keeps, as the embedded backend keeps it in files. */
export const sql = `
CREATE TABLE links (key text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE agents (key text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE orders (key text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE deployments (key text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE chains (key text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE meta (key text PRIMARY KEY, value jsonb NOT NULL);

-- receipts.log: every money record in order. A receipt is issued once per (deployment, period start);
-- receipts of a close cut short before its tree head are marked abandoned (never deleted) when the
-- period is closed again, so the key binds only the receipts that count.
CREATE TABLE money_log (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind text NOT NULL,
  deployment text,
  period_start_ms bigint,
  abandoned boolean NOT NULL DEFAULT false,
  record jsonb NOT NULL
);
CREATE UNIQUE INDEX money_log_receipt_once ON money_log (deployment, period_start_ms) WHERE kind = 'receipt' AND NOT abandoned;
CREATE INDEX money_log_period ON money_log (period_start_ms, kind);

-- events.log: the timeline; the gateway reads only the newest rows by seq at start.
CREATE TABLE events (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, record jsonb NOT NULL);

-- orders-archive.log: finished orders; the gateway reads each customer's and each /64's newest at start.
CREATE TABLE order_archive (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer text NOT NULL,
  subnet text,
  created_at_ms bigint NOT NULL,
  record jsonb NOT NULL
);
CREATE INDEX order_archive_customer ON order_archive (customer, created_at_ms DESC);
CREATE INDEX order_archive_subnet ON order_archive (subnet, created_at_ms DESC) WHERE subnet IS NOT NULL;

-- ledger/journal.log: the embedded ledger's entries.
CREATE TABLE ledger_journal (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, record jsonb NOT NULL);
`;
