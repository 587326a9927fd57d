// `hypha receipt verify FILE`: checks a receipt, or a chain of them, offline — signatures, Merkle proofs, links and arithmetic.
import { readFileSync } from 'node:fs';
import { errorMessage } from '../identity/error-message.js';
import { isAgentPubKey } from '../identity/index.js';
import { verifyReceipt, verifyReceiptChain } from '../protocol/receipt.js';
import { optional, parse } from './args.js';
import { UsageError } from './cli-error.js';

export const RECEIPT_HELP = `hypha receipt — verify usage receipts offline

  hypha receipt verify FILE [--gateway UHCAK] [--partial]

FILE holds one receipt (a JSON object), a chain (a JSON array, oldest first), or the answer of
GET /v1/receipts ({"receipts": […]}); - reads stdin. Checked for every receipt: the charge
arithmetic, the agent's chain-head signature when present, and that each receipt names the hash
of the one before it (--partial: a chain may start mid-way). A v1 receipt: the gateway's
signature and the farmer's countersignature when present. A v2 receipt: its leaf hash, its
inclusion proof up to the root of its period's tree head, the gateway's signature on that head,
and the farmer's batch countersignature (with the receipt's proof in the farmer's batch) when
present. --gateway pins the gateway's key. Exit 0 when valid; 1 with the reason when not, when FILE is an error answer ({"error": …}) or
holds no receipts; 2 for unreadable input.`;

/** Runs `hypha receipt SUB …`. */
export function receiptCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help') {
    out(RECEIPT_HELP);
    return Promise.resolve(sub === undefined ? 2 : 0);
  }
  if (sub !== 'verify') throw new UsageError(`unknown command "hypha receipt ${sub}"; see hypha receipt --help`);
  const p = parse(rest, { gateway: { type: 'string' }, partial: { type: 'boolean' } });
  if (p.positionals.length !== 1) throw new UsageError('usage: hypha receipt verify FILE');
  const file = p.positionals[0] as string;
  const gateway = optional(p, 'gateway');
  if (gateway !== undefined && !isAgentPubKey(gateway)) throw new UsageError('--gateway must be an AgentPubKey (uhCAk…)');
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${errorMessage(err)}`);
  }
  const refusal = errorAnswerOf(doc);
  if (refusal !== null) {
    process.stderr.write(`not receipts: ${file} holds an error answer from the gateway (${refusal}); nothing to verify\n`);
    return Promise.resolve(1);
  }
  const list = Array.isArray(doc) ? doc : doc !== null && typeof doc === 'object' && Array.isArray((doc as { receipts?: unknown }).receipts) ? (doc as { receipts: unknown[] }).receipts : null;
  if (list !== null && list.length === 0) {
    process.stderr.write(`no receipts in ${file}: nothing to verify (a deployment has receipts once its first billing period has closed)\n`);
    return Promise.resolve(1);
  }
  const result = list === null ? verifyReceipt(doc, gateway) : verifyReceiptChain(list, { ...(gateway ? { pinnedGateway: gateway } : {}), allowPartial: p.values.partial === true });
  if (!result.ok) {
    process.stderr.write(`invalid: ${result.reason}\n`);
    return Promise.resolve(1);
  }
  out(list === null ? 'valid: 1 receipt' : `valid: ${list.length} receipt(s)`);
  return Promise.resolve(0);
}

/** "code: message" when `doc` is a gateway error answer (`{"error": {"code", "message"}}`), else null. */
function errorAnswerOf(doc: unknown): string | null {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return null;
  const error = (doc as { error?: unknown }).error;
  if (error === null || typeof error !== 'object') return null;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return [code, message].filter((v) => typeof v === 'string').join(': ') || 'no details';
}
