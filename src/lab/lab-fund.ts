// `hypha lab fund ACTOR AMOUNT`: pay into a customer's agreement the way the lab's ledger is paid — the admin's fund route, or a Unyt parked spend.
import { join } from 'node:path';
import { errorMessage, loadKeyFile } from '../identity/index.js';
import { formatAmount } from '../protocol/money.js';
import { actorOf, LabError } from './lab.js';
import { HYPHA_BIN, readLabState } from './lab-state.js';
import { NetnsError, nsExec } from './netns.js';

/** What `lab fund` did, as it prints it. */
export interface LabFunded {
  readonly actor: string;
  readonly agent: string;
  readonly amount: string;
  /** "admin-fund" (embedded ledger: POST /admin/api/ledger/fund) or "unyt-parked-spend". */
  readonly via: 'admin-fund' | 'unyt-parked-spend';
  /** The gateway's answer (embedded) or the parked link (Unyt). */
  readonly answer: unknown;
}

/**
 * Funds `name`'s agreement with `amountMicros`. Embedded ledger: the admin (linked first) posts
 * the lab's stand-in for paying on Unyt. Unyt ledger: the customer's own wallet parks a spend on
 * their agreement from the customer's namespace (`hypha lab unyt-park`); the gateway sees it at
 * its next settle, as it would on Unyt.
 */
export async function labFund(dir: string, name: string, amountMicros: bigint): Promise<LabFunded> {
  const state = readLabState(dir);
  if (!state) throw new LabError(`no lab is up in ${dir}`);
  const actor = actorOf(state, name);
  if (actor.role !== 'customer') throw new LabError(`${name} is not a customer (only customers have agreements to fund)`);
  const amount = formatAmount(amountMicros);
  if (state.ledger === 'unyt') {
    const out = await inNamespace(actor.ns, `parking ${amount} for ${name}`, process.execPath, HYPHA_BIN, 'lab', 'unyt-park', name, amount, '--dir', dir);
    const parked = JSON.parse(out) as { agent: string; link: string };
    return { actor: name, agent: parked.agent, amount, via: 'unyt-parked-spend', answer: parked };
  }
  const agent = loadKeyFile(actor.key).agent;
  const admin = actorOf(state, 'admin');
  const out = await inNamespace(admin.ns, `funding ${name}`, 'curl', '-s', '-S', '--max-time', '15', '-w', '\n%{http_code}', '-X', 'POST', '-H', 'content-type: application/json', '--data-binary', JSON.stringify({ agent, amount }), `${state.gateway.url}/admin/api/ledger/fund`);
  const cut = out.lastIndexOf('\n');
  const status = out.slice(cut + 1).trim();
  if (status !== '200') throw new LabError(`the gateway refused to fund ${name} (HTTP ${status}; is the admin linked? \`hypha lab link admin\`): ${out.slice(0, cut)}`);
  return { actor: name, agent, amount, via: 'admin-fund', answer: JSON.parse(out.slice(0, cut)) as unknown };
}

/** The Unyt ledger actor's folder (where the conductor stand-in keeps its wallets). */
export function labLedgerDir(dir: string): string {
  return join(dir, 'ledger');
}

async function inNamespace(ns: string, what: string, cmd: string, ...args: string[]): Promise<string> {
  try {
    return await nsExec(ns, cmd, ...args);
  } catch (err) {
    throw new LabError(`${what} failed: ${err instanceof NetnsError ? err.stderr.trim() : errorMessage(err)}`);
  }
}
