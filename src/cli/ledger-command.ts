// `hypha ledger …`: serve the embedded ledger (the lab's stand-in for Unyt), inspect its journal, or issue Unyt credentials.
import { errorMessage } from '../identity/error-message.js';
import { normaliseSubnet64 } from '../identity/index.js';
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
  hypha ledger unyt-credentials --admin-url URL --app-url URL --app-id ID --out DIR [--role alliance] [--zome transactor] [--origin hypha]
      issue the gateway's Unyt app token and a signing key granted only the functions it calls,
      into DIR/unyt-token.json and DIR/unyt-signing.json (0600); prints the gateway's AgentPubKey

summary and entries read the journal without changing it, so they are safe while it is served.

Exit status: 0 OK, 2 bad input (one line on stderr says why).`;

/** Runs `hypha ledger SUB …`. */
export async function ledgerCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'serve': {
      const p = parse(rest, { dir: { type: 'string' }, listen: { type: 'string' }, port: { type: 'string' }, allow: { type: 'string', multiple: true } }, false);
      const given = (p.values.allow as string[] | undefined) ?? [];
      if (given.length === 0) throw new UsageError('--allow SUBNET is required (the gateway\'s /64): the ledger answers no one else');
      const allow = given.map((s) => {
        try {
          return normaliseSubnet64(s);
        } catch (err) {
          throw new UsageError(`--allow ${s}: ${errorMessage(err)}`);
        }
      });
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
    case 'unyt-credentials': {
      const p = parse(
        rest,
        { 'admin-url': { type: 'string' }, 'app-url': { type: 'string' }, 'app-id': { type: 'string' }, out: { type: 'string' }, role: { type: 'string' }, zome: { type: 'string' }, origin: { type: 'string' } },
        false,
      );
      const role = optional(p, 'role');
      const zome = optional(p, 'zome');
      const origin = optional(p, 'origin');
      const { issueUnytCredentials } = await import('../gateway/ledger/unyt/issue-credentials.js');
      const issued = await issueUnytCredentials({
        adminUrl: required(p, 'admin-url'),
        appUrl: required(p, 'app-url'),
        installedAppId: required(p, 'app-id'),
        outDir: required(p, 'out'),
        ...(role === undefined ? {} : { roleName: role }),
        ...(zome === undefined ? {} : { zomeName: zome }),
        ...(origin === undefined ? {} : { origin }),
      });
      out(JSON.stringify(issued));
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
