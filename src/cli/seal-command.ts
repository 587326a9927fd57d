// `hypha seal --to NODE_KEY FILE`: seals a secret (libsodium crypto_box_seal) so only that node's farmer agent can open it.
import { readFileSync } from 'node:fs';
import { errorMessage } from '../identity/error-message.js';
import { isAgentPubKey, toBase64 } from '../identity/index.js';
import { seal } from '../identity/sealed-box.js';
import { MAX_SECRET_BYTES } from '../protocol/sealed-secret.js';
import { required, parse } from './args.js';
import { UsageError } from './cli-error.js';

export const SEAL_HELP = `hypha seal — seal a secret for the node that will run your VM

  hypha seal --to NODE_KEY FILE

Prints FILE (- reads stdin; at most ${MAX_SECRET_BYTES} bytes) sealed with libsodium's crypto_box_seal
to NODE_KEY, as one line of base64: only the farmer agent holding NODE_KEY can open it, never the
gateway. NODE_KEY is the node's "sealTo" (the farmer agent's AgentPubKey, uhCAk…; its X25519 form
is the sealing key) from GET /v1/nodes/NODE. Put the line in an order's "secrets" under that node
(docs/api.md, POST /v1/orders). Exit 0 sealed; 2 bad input.`;

/** Runs `hypha seal …`. */
export function sealCommand(argv: string[], out: (s: string) => void): Promise<number> {
  if (argv[0] === '--help') {
    out(SEAL_HELP);
    return Promise.resolve(0);
  }
  const p = parse(argv, { to: { type: 'string' } });
  const to = required(p, 'to');
  if (!isAgentPubKey(to)) throw new UsageError('--to must be the node\'s AgentPubKey (uhCAk…), its "sealTo" in GET /v1/nodes/NODE');
  if (p.positionals.length !== 1) throw new UsageError('usage: hypha seal --to NODE_KEY FILE');
  const file = p.positionals[0] as string;
  let secret: Buffer;
  try {
    secret = readFileSync(file === '-' ? 0 : file);
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${errorMessage(err)}`);
  }
  if (secret.length > MAX_SECRET_BYTES) throw new UsageError(`${file} is ${secret.length} bytes; a secret may be at most ${MAX_SECRET_BYTES}`);
  out(toBase64(seal(to, secret)));
  return Promise.resolve(0);
}
