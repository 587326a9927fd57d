// `hypha ledger …`: serve the embedded ledger (the lab's stand-in for Unyt), or inspect its journal.
import { parseSubnet64 } from '../identity/index.js';
import { createLogger } from '../protocol/logger.js';
import { formatAmount } from '../protocol/money.js';
import { EmbeddedLedger } from '../gateway/ledger/embedded-ledger.js';
import { startLedgerServer } from '../gateway/ledger/ledger-server.js';
import { checkListenAddress, ListenAddressError } from '../gateway/listen-address.js';
import { optional, parse, required } from './args.js';
import { UsageError } from './cli-error.js';
import { untilStopped } from './until-stopped.js';

export const LEDGER_HELP = `hypha ledger — the embedded ledger (Unyt smart-agreement semantics on disk)

  hypha ledger serve --dir DIR --listen ADDR [--port 8490] --allow SUBNET [--allow SUBNET…]
      serve it over HTTP on a Mycelium address, to callers from the allowed /64s only
  hypha ledger summary --dir DIR       counts, totals and balances, as JSON
  hypha ledger entries --dir DIR [--type fund|charge|refused|payout]
                                       every journal entry, one JSON object per line

summary and entries read the journal without changing it, so they are safe while it is served.

Exit status: 0 OK, 2 bad input (one line on stderr says why).`;

/** Runs `hypha ledger SUB …`. */
export async function ledgerCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'serve': {
      const p = parse(rest, { dir: { type: 'string' }, listen: { type: 'string' }, port: { type: 'string' }, allow: { type: 'string', multiple: true } }, false);
      const allow = (p.values.allow as string[] | undefined) ?? [];
      if (allow.length === 0) throw new UsageError('--allow SUBNET is required (the gateway\'s /64): the ledger answers no one else');
      for (const s of allow) {
        try {
          parseSubnet64(s);
        } catch (err) {
          throw new UsageError(`--allow ${s}: ${(err as Error).message}`);
        }
      }
      let address: string;
      try {
        address = checkListenAddress(required(p, 'listen'));
      } catch (err) {
        if (err instanceof ListenAddressError) throw new UsageError(err.message);
        throw err;
      }
      const port = Number(optional(p, 'port') ?? '8490');
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError('--port must be 1-65535');
      const log = createLogger('ledger');
      const served = await startLedgerServer({ dir: required(p, 'dir'), address, port, allow }, log);
      await untilStopped(() => served.close());
      return 0;
    }
    case 'summary': {
      const p = parse(rest, { dir: { type: 'string' } }, false);
      const entries = EmbeddedLedger.readEntries(required(p, 'dir'));
      const count = (t: string): number => entries.filter((e) => e.type === t).length;
      const balances = new Map<string, bigint>();
      let collected = 0n;
      let paidOut = 0n;
      for (const e of entries) {
        const amount = BigInt(e.amountMicros);
        if (e.type === 'fund') balances.set(e.customer, (balances.get(e.customer) ?? 0n) + amount);
        if (e.type === 'charge') {
          balances.set(e.customer, (balances.get(e.customer) ?? 0n) - amount);
          collected += amount;
        }
        if (e.type === 'payout') paidOut += amount;
      }
      out(
        JSON.stringify(
          {
            entries: entries.length,
            funds: count('fund'),
            charges: count('charge'),
            refusals: count('refused'),
            payouts: count('payout'),
            collected: formatAmount(collected),
            paidOut: formatAmount(paidOut),
            balances: Object.fromEntries([...balances].map(([k, v]) => [k, formatAmount(v)])),
          },
          null,
          2,
        ),
      );
      return 0;
    }
    case 'entries': {
      const p = parse(rest, { dir: { type: 'string' }, type: { type: 'string' } }, false);
      const type = optional(p, 'type');
      for (const e of EmbeddedLedger.readEntries(required(p, 'dir'))) if (type === undefined || e.type === type) out(JSON.stringify(e));
      return 0;
    }
    case undefined:
    case '--help':
      out(LEDGER_HELP);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "hypha ledger ${sub}"; see hypha ledger --help`);
  }
}
