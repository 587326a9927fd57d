// `hypha store migrate`: moves an embedded gateway's state (db.json and its logs) into PostgreSQL.
import { DATABASE_URL_ENV } from '../gateway/store/store-config.js';
import { StoreError } from '../gateway/store/store.js';
import { copyEmbeddedToPostgres } from '../gateway/store/postgres/copy-embedded.js';
import { redactDatabaseUrl } from '../gateway/store/postgres/redact-url.js';
import { optional, parse, required } from './args.js';
import { UsageError } from './cli-error.js';

export const STORE_HELP = `hypha store — move the gateway's state between backends

  hypha store migrate --from DIR [--ledger-dir DIR] [--to postgres://…]

Copies a stopped embedded gateway's whole state into an empty PostgreSQL database, in one
transaction: db.json's tables (links, agents, orders, deployments, chains, meta), receipts.log,
events.log, orders-archive.log and the embedded ledger's journal.log (--ledger-dir, default
DIR/ledger). The source files are only read. Every deployment's receipt chain is verified
(signatures, Merkle proofs, links) before the copy and again from the database after it; a
database that already holds data is refused. --to may be left out when ${DATABASE_URL_ENV} is set
(which keeps the password out of the process list); the password is never printed. Then set
"store": {"kind": "postgres", "url": …} in the gateway's config.
Exit 0 when copied and verified; 1 when refused (damaged source, chains that do not verify, a
non-empty target); 2 for bad arguments.`;

/** Runs `hypha store SUB …`. */
export async function storeCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help') {
    out(STORE_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'migrate') throw new UsageError(`unknown command "hypha store ${sub}"; see hypha store --help`);
  const p = parse(rest, { from: { type: 'string' }, to: { type: 'string' }, 'ledger-dir': { type: 'string' } }, false);
  const from = required(p, 'from');
  const url = optional(p, 'to') ?? process.env[DATABASE_URL_ENV];
  if (url === undefined || url === '') throw new UsageError(`--to postgres://… is required (or set ${DATABASE_URL_ENV})`);
  if (!/^postgres(ql)?:\/\//.test(url)) throw new UsageError('--to must start with postgres:// or postgresql://');
  const ledgerDir = optional(p, 'ledger-dir');
  try {
    const report = await copyEmbeddedToPostgres({ from, url, ...(ledgerDir !== undefined ? { ledgerDir } : {}) });
    out(`copied ${from} to ${redactDatabaseUrl(url)}:`);
    for (const [table, rows] of Object.entries(report.tables)) out(`  ${table.padEnd(14)} ${rows} row(s)`);
    out(`  ${'money log'.padEnd(14)} ${report.moneyRecords} record(s)`);
    out(`  ${'events'.padEnd(14)} ${report.events} event(s)`);
    out(`  ${'order archive'.padEnd(14)} ${report.archivedOrders} order(s)`);
    out(`  ${'ledger'.padEnd(14)} ${report.ledgerEntries} journal entr${report.ledgerEntries === 1 ? 'y' : 'ies'}`);
    out(`verified: ${report.receiptsVerified} receipt(s) in ${report.chainsVerified} chain(s), read back from the database`);
    return 0;
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    process.stderr.write(`hypha store: refused: ${err.message}\n`);
    return 1;
  }
}
