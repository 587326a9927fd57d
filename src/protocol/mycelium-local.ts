// This host's own Mycelium identity, as its local Mycelium API reports it or, failing that, its interfaces show it.
import { networkInterfaces } from 'node:os';
import { formatIpv6, isMyceliumBytes, parseIpv6, parseSubnet64, subnet64Of } from '../identity/index.js';

/** Where Mycelium's local API listens by default (mycelium `--api-addr`, 127.0.0.1:8989). */
export const DEFAULT_MYCELIUM_API_URL = 'http://127.0.0.1:8989';

/** What `GET /api/v1/admin` of the local Mycelium API answers (mycelium v0.7 `api::Info`); every field untrusted. */
export interface MyceliumNodeInfo {
  readonly nodeSubnet?: unknown;
  readonly nodePubkey?: unknown;
  readonly nodeIp?: unknown;
}

/** How long to wait for the local API: it is on loopback, so a slow answer means it is not there. */
const API_TIMEOUT_MS = 1500;

/** The local Mycelium API's node info, or null when it does not answer with a JSON object. */
export async function fetchMyceliumNodeInfo(baseUrl: string): Promise<MyceliumNodeInfo | null> {
  try {
    const res = await fetch(`${baseUrl.replace(/\/$/, '')}/api/v1/admin`, { signal: AbortSignal.timeout(API_TIMEOUT_MS) });
    if (!res.ok) return null;
    const info: unknown = await res.json();
    return typeof info === 'object' && info !== null ? info : null;
  } catch {
    return null;
  }
}

/** Every 400::/7 address on this host's interfaces, normalised; those on the `mycelium` TUN first. */
export function interfaceMyceliumAddresses(): string[] {
  const all = networkInterfaces();
  const names = Object.keys(all).sort((a, b) => Number(b === 'mycelium') - Number(a === 'mycelium'));
  const found: string[] = [];
  for (const name of names) {
    for (const info of all[name] ?? []) {
      if (info.family !== 'IPv6') continue;
      try {
        const bytes = parseIpv6(info.address);
        if (isMyceliumBytes(bytes) && !found.includes(formatIpv6(bytes))) found.push(formatIpv6(bytes));
      } catch {
        // Not an address we can read: skip it.
      }
    }
  }
  return found;
}

/** Where a host's /64s were found. */
export type SubnetSource = 'mycelium-api' | 'interface';

/**
 * This host's own Mycelium /64s: the API's `nodeSubnet` when the local API answers with one,
 * else the /64s of the host's 400::/7 interface addresses (none when Mycelium is not running).
 */
export async function localMyceliumSubnets(apiUrl: string): Promise<{ subnets: string[]; source: SubnetSource }> {
  const info = await fetchMyceliumNodeInfo(apiUrl);
  if (typeof info?.nodeSubnet === 'string') {
    try {
      return { subnets: [canonicalSubnet64(info.nodeSubnet)], source: 'mycelium-api' };
    } catch {
      // Not a /64 on 400::/7: fall back to what the interfaces say.
    }
  }
  const subnets = [...new Set(interfaceMyceliumAddresses().map((a) => subnet64Of(parseIpv6(a))))];
  return { subnets, source: 'interface' };
}

/** A /64 in its canonical text ("570:75b1:b695:5ed7::/64"); AddressError when it is not a /64 on 400::/7. */
export function canonicalSubnet64(text: string): string {
  const bytes = new Uint8Array(16);
  bytes.set(parseSubnet64(text));
  return subnet64Of(bytes);
}
