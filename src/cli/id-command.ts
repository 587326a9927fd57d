// `hypha id …`: key files, signatures, and the AgentPubKey and Mycelium address codecs.
import { errorMessage } from '../identity/error-message.js';
import {
  AgentPubKeyError,
  KeyFileError,
  decodeAgentPubKey,
  encodeAgentPubKey,
  fromHex,
  loadKeyFile,
  myceliumAddressOfKey,
  newIdentity,
  saveKeyFile,
  sign,
  toBase64,
  toHex,
  type Identity,
} from '../identity/index.js';
import { DEFAULT_MYCELIUM_API_URL, LinkStatementError, checkLinkSubnet, localMyceliumSubnets, looksLikeLinkStatement } from '../protocol/index.js';
import { onePositional, optional, parse, readStdin, required } from './args.js';
import { UsageError } from './cli-error.js';

export const ID_HELP = `hypha id — Unyt identities and Mycelium addresses

  hypha id new --out FILE [--force]   write a new ed25519 key file (mode 0600); print {"agent", "publicKeyHex"}
  hypha id show --key FILE            print {"agent", "publicKeyHex"} of a key file
  hypha id sign --key FILE [--field NAME] [--mycelium-api URL]
                                      sign stdin's bytes; print the base64 signature.
                                      --field NAME: stdin is JSON, sign the string in its field NAME
                                      A link statement (hypha/link/v1) is signed only when the /64 it
                                      links is this machine's own; to link, use \`hypha link\`.
  hypha id agent-key HEX              the AgentPubKey (uhCAk…) of a 32-byte ed25519 public key
  hypha id decode UHCAK               the 32-byte ed25519 key inside an AgentPubKey, as hex
  hypha id mycelium-address HEX       the Mycelium address of a 32-byte X25519 public key

Exit status: 0 OK, 2 bad input (one line on stderr says why).
`;

/** Runs `hypha id SUB …`; returns the exit code. */
export async function idCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'new': {
      const p = parse(rest, { out: { type: 'string' }, force: { type: 'boolean' } }, false);
      const path = required(p, 'out');
      const identity = newIdentity();
      keyFileStep(() => saveKeyFile(path, identity, p.values.force === true));
      out(describeIdentity(identity));
      return 0;
    }
    case 'show': {
      const p = parse(rest, { key: { type: 'string' } }, false);
      out(describeIdentity(keyFileStep(() => loadKeyFile(required(p, 'key')))));
      return 0;
    }
    case 'sign': {
      const p = parse(rest, { key: { type: 'string' }, field: { type: 'string' }, 'mycelium-api': { type: 'string' } }, false);
      const identity = keyFileStep(() => loadKeyFile(required(p, 'key')));
      const input = await readStdin();
      const field = p.values.field;
      const message = typeof field === 'string' ? fieldOf(input, field) : input;
      await refuseForeignLink(message, optional(p, 'mycelium-api') ?? DEFAULT_MYCELIUM_API_URL);
      out(toBase64(sign(identity.secretKey, message)));
      return 0;
    }
    case 'agent-key': {
      const hex = onePositional(parse(rest, {}), 'HEX (a 32-byte ed25519 public key)');
      out(encodeAgentPubKey(hexKey(hex)));
      return 0;
    }
    case 'decode': {
      const text = onePositional(parse(rest, {}), 'UHCAK (an AgentPubKey)');
      try {
        out(toHex(decodeAgentPubKey(text)));
      } catch (err) {
        if (err instanceof AgentPubKeyError) throw new UsageError(`invalid AgentPubKey: ${err.message}`);
        throw err;
      }
      return 0;
    }
    case 'mycelium-address': {
      const hex = onePositional(parse(rest, {}), 'HEX (a 32-byte X25519 public key)');
      out(myceliumAddressOfKey(hexKey(hex)));
      return 0;
    }
    case undefined:
    case '--help':
    case 'help':
      out(ID_HELP.trimEnd());
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "hypha id ${sub}"; see hypha id --help`);
  }
}

/**
 * Refuses to sign a link statement for a /64 that is not this machine's: a challenge handed over
 * by a phishing page or a relaying gateway names the attacker's /64, and signing it would link
 * the attacker's machine to the signer's identity.
 */
async function refuseForeignLink(message: Uint8Array, myceliumApiUrl: string): Promise<void> {
  const text = Buffer.from(message).toString('utf8');
  if (!looksLikeLinkStatement(text)) return;
  try {
    checkLinkSubnet(text, (await localMyceliumSubnets(myceliumApiUrl)).subnets);
  } catch (err) {
    if (err instanceof LinkStatementError) {
      throw new UsageError(`refusing to sign this link statement: ${err.message}; to link this machine run \`hypha link --gateway URL --key FILE\` on it`);
    }
    throw err;
  }
}

function describeIdentity(identity: Identity): string {
  return JSON.stringify({ agent: identity.agent, publicKeyHex: toHex(identity.publicKey) });
}

function keyFileStep<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof KeyFileError) throw new UsageError(err.message);
    throw err;
  }
}

function hexKey(hex: string): Uint8Array {
  try {
    return fromHex('HEX', hex.trim(), 32);
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

function fieldOf(input: Buffer, field: string): Uint8Array {
  let doc: unknown;
  try {
    doc = JSON.parse(input.toString('utf8'));
  } catch {
    throw new UsageError(`--field ${field}: stdin is not JSON`);
  }
  const value = doc !== null && typeof doc === 'object' ? (doc as Record<string, unknown>)[field] : undefined;
  if (typeof value !== 'string') throw new UsageError(`--field ${field}: stdin's JSON has no string field "${field}"`);
  return Buffer.from(value, 'utf8');
}
