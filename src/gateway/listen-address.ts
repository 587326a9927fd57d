// Finding and checking the gateway's listen address: only its own Mycelium address, never a wildcard.
import { AddressError, myceliumAddressOfKey, fromHex, parseIpv6, formatIpv6, isMyceliumBytes } from '../identity/index.js';
import { fetchMyceliumNodeInfo, interfaceMyceliumAddresses } from '../protocol/mycelium-local.js';

/** A listen address that must not be used, with what to do instead. */
export class ListenAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListenAddressError';
  }
}

const WHY =
  'the gateway identifies callers by their Mycelium source address, so it must listen only on its own Mycelium address (in 400::/7)';
const HOW = 'pass --listen <your Mycelium address> (`mycelium inspect --json`, or GET http://127.0.0.1:8989/api/v1/admin), or start Mycelium so it can be found';

/** Checks an explicit listen address; ListenAddressError says why one is refused. */
export function checkListenAddress(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '0.0.0.0' || /^[0-9.]+$/.test(trimmed)) {
    throw new ListenAddressError(`refusing to listen on ${trimmed}: an IPv4 address is never a Mycelium address; ${WHY}. ${HOW}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = parseIpv6(trimmed);
  } catch (err) {
    throw new ListenAddressError(`refusing to listen on ${JSON.stringify(trimmed)}: ${(err as AddressError).message}. ${HOW}`);
  }
  const address = formatIpv6(bytes);
  if (address === '::') throw new ListenAddressError(`refusing to listen on :: (every address): ${WHY}. ${HOW}`);
  if (!isMyceliumBytes(bytes)) throw new ListenAddressError(`refusing to listen on ${address}: it is outside 400::/7; ${WHY}. ${HOW}`);
  return address;
}

/** Where the address came from. */
export type AddressSource = 'config' | 'mycelium-api' | 'interface';

/**
 * The address to listen on: the explicit one if given (checked), else the node address the
 * local Mycelium API reports, else a 400::/7 address on this host's interfaces (the one on
 * the `mycelium` TUN first).
 */
export async function resolveListenAddress(options: { explicit?: string; myceliumApiUrl: string }): Promise<{ address: string; source: AddressSource }> {
  if (options.explicit !== undefined) return { address: checkListenAddress(options.explicit), source: 'config' };
  const fromApi = await addressFromMyceliumApi(options.myceliumApiUrl);
  if (fromApi) return { address: fromApi, source: 'mycelium-api' };
  const fromIf = addressFromInterfaces();
  if (fromIf) return { address: fromIf, source: 'interface' };
  throw new ListenAddressError(`no Mycelium address found (the Mycelium API at ${options.myceliumApiUrl} did not answer, and no interface has a 400::/7 address). ${HOW}`);
}

/** The node address from Mycelium's local admin API: `nodeIp`, or derived from `nodePubkey`. */
export async function addressFromMyceliumApi(baseUrl: string): Promise<string | null> {
  const info = await fetchMyceliumNodeInfo(baseUrl);
  try {
    if (typeof info?.nodeIp === 'string') return checkListenAddress(info.nodeIp);
    if (typeof info?.nodePubkey === 'string') return myceliumAddressOfKey(fromHex('nodePubkey', info.nodePubkey, 32));
  } catch {
    // An answer we cannot use: as if the API were not there.
  }
  return null;
}

/** A 400::/7 address of this host, preferring the interface named `mycelium`. */
export function addressFromInterfaces(): string | null {
  return interfaceMyceliumAddresses()[0] ?? null;
}
