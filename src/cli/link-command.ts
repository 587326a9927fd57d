// `hypha link`: links this machine's Mycelium /64 to a Unyt identity, checking the gateway's challenge before signing it.
import { errorMessage } from '../identity/error-message.js';
import { loadKeyFile, normaliseIpv6, parseIpv6, isMyceliumBytes, sign, toBase64, utf8, KeyFileError, type Identity } from '../identity/index.js';
import { DEFAULT_MYCELIUM_API_URL, LinkStatementError, checkLinkStatement, localMyceliumSubnets } from '../protocol/index.js';
import { optional, parse, required } from './args.js';
import { UsageError } from './cli-error.js';

export const LINK_HELP = `hypha link --gateway URL --key FILE [--mycelium-api URL]

Links this machine's Mycelium /64 to the Unyt identity of the key file, at the gateway URL
(http://[GATEWAY MYCELIUM ADDRESS]:PORT). It asks the gateway for a challenge from this machine,
and signs it only if its statement is a link statement that names that gateway, one of this
machine's own Mycelium /64s (from the Mycelium API at --mycelium-api, default
${DEFAULT_MYCELIUM_API_URL}, else this host's 400::/7 addresses) and this key's identity, and has
not expired. Then it sends the signature and prints the link: {"agent", "subnet", "linkedAt"}.

This is the way to link: a challenge someone else hands you (a web page, a message, another
gateway) would link their machine to your identity, and \`hypha id sign\` refuses those.

Exit status: 0 linked; 1 the gateway refused or could not be reached (stderr says why);
2 bad input, or a challenge this machine must not sign (one line on stderr says why).`;

/** How long one request to the gateway may take. */
const REQUEST_TIMEOUT_MS = 15_000;

/** Runs `hypha link`; resolves with the exit code. */
export async function linkCommand(argv: string[], out: (s: string) => void): Promise<number> {
  if (argv[0] === '--help') {
    out(LINK_HELP);
    return 0;
  }
  const p = parse(argv, { gateway: { type: 'string' }, key: { type: 'string' }, 'mycelium-api': { type: 'string' } }, false);
  const { base, address } = gatewayUrl(required(p, 'gateway'));
  let identity: Identity;
  try {
    identity = loadKeyFile(required(p, 'key'));
  } catch (err) {
    if (err instanceof KeyFileError) throw new UsageError(err.message);
    throw err;
  }
  const apiUrl = optional(p, 'mycelium-api') ?? DEFAULT_MYCELIUM_API_URL;
  const { subnets } = await localMyceliumSubnets(apiUrl);

  const challenge = await post(base, '/v1/link/challenge', { agent: identity.agent }, [201]);
  const statement = challenge.statement;
  const nonce = challenge.nonce;
  if (typeof statement !== 'string' || typeof nonce !== 'string') {
    throw new UsageError(`the gateway at ${base} answered the challenge request without a statement and a nonce: it is not a hypha gateway`, 1);
  }
  try {
    checkLinkStatement(statement, { gatewayAddress: address, localSubnets: subnets, agent: identity.agent, nowMs: Date.now() });
  } catch (err) {
    if (err instanceof LinkStatementError) throw new UsageError(`refusing to sign the challenge of ${base}: ${err.message}`);
    throw err;
  }
  const signature = toBase64(sign(identity.secretKey, utf8(statement)));
  const linked = await post(base, '/v1/link', { agent: identity.agent, nonce, signature }, [200, 201]);
  out(JSON.stringify(linked));
  return 0;
}

/** The gateway's base URL and its Mycelium address; the statement must name that address. */
function gatewayUrl(text: string): { base: string; address: string } {
  const m = /^http:\/\/\[([0-9a-fA-F:]+)\](?::(\d{1,5}))?\/?$/.exec(text.trim());
  const bytes = m ? safeParse(m[1] as string) : undefined;
  if (!m || !bytes || !isMyceliumBytes(bytes)) {
    throw new UsageError(`--gateway must be http://[MYCELIUM ADDRESS]:PORT (an address in 400::/7), got ${JSON.stringify(text)}`);
  }
  const address = normaliseIpv6(m[1] as string);
  return { base: `http://[${address}]${m[2] === undefined ? '' : `:${m[2]}`}`, address };
}

function safeParse(text: string): Uint8Array | undefined {
  try {
    return parseIpv6(text);
  } catch {
    return undefined;
  }
}

/** POSTs JSON; the parsed answer when its status is one of `ok`, else a UsageError (exit 1) with the gateway's reason. */
async function post(base: string, path: string, body: unknown, ok: number[]): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? errorMessage(err);
    throw new UsageError(`cannot reach the gateway at ${base}${path}: ${cause}`, 1);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!ok.includes(res.status)) {
    const error = (json as { error?: { code?: unknown; message?: unknown; hint?: unknown } } | undefined)?.error;
    const hint = typeof error?.hint === 'string' ? ` (${error.hint})` : '';
    const reason = error ? `${String(error.code)}: ${String(error.message)}${hint}` : `HTTP ${res.status}`;
    throw new UsageError(`the gateway at ${base} refused ${path}: ${reason}`, 1);
  }
  if (typeof json !== 'object' || json === null) throw new UsageError(`the gateway at ${base} answered ${path} with something other than a JSON object`, 1);
  return json as Record<string, unknown>;
}
