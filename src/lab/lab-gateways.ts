// A lab with two gateways: which one is active, asked of each gateway itself, and the state's `gateway` kept pointing at it.
import { parseCurlOutput } from './curl-output.js';
import { nsExec } from './netns.js';
import { readLabState, writeLabState, type LabActor, type LabState } from './lab-state.js';

/**
 * What a gateway process is doing now, as its own HTTP answer says: `down` has no process;
 * `unresponsive` has one that gave no usable answer in time (a stalled event loop on a loaded host,
 * or a state reload after a takeover): it may be active a moment later, so it is not called down.
 */
export type LabGatewayRole = 'active' | 'standby' | 'unresponsive' | 'down';

/** How long a probe waits for a gateway's answer: a takeover's reload can stall it for seconds on a loaded host. */
const PROBE_SECONDS = 8;

/** One gateway of the lab, for `hypha lab status --json` `gateways`. */
export interface LabGateway {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly url: string;
  readonly pid?: number;
  readonly role: LabGatewayRole;
}

/**
 * Asks gateway `actor` what it is: curl from its own namespace to its own URL. No process is down;
 * otherwise the answer decides (roleOfAnswer).
 */
async function probe(actor: LabActor, url: string): Promise<LabGatewayRole> {
  if (actor.pid === undefined || !alive(actor.pid)) return 'down';
  try {
    return roleOfAnswer(await nsExec(actor.ns, 'curl', '-s', '--max-time', String(PROBE_SECONDS), '-w', '\n%{http_code}', `${url}/`));
  } catch {
    return 'unresponsive';
  }
}

/**
 * The role a live gateway's answer to `GET /` shows, given curl's output (the body, a newline, the status).
 * A standby answers every path 503 `{"error":{"code":"standby",…}}` (src/gateway/ha/standby-server.ts); any other
 * answer below 500 comes from the active one; anything else (a 5xx, no status) is unresponsive.
 */
export function roleOfAnswer(curlOutput: string): LabGatewayRole {
  const { status, json } = parseCurlOutput(curlOutput);
  if (status === 503 && errorCodeOf(json) === 'standby') return 'standby';
  return status >= 200 && status < 500 ? 'active' : 'unresponsive';
}

/** The `error.code` of a parsed error body (docs/api.md "Errors"), if it has one. */
function errorCodeOf(json: unknown): unknown {
  if (typeof json !== 'object' || json === null) return undefined;
  const error = (json as { error?: unknown }).error;
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

/** Every gateway of the lab with its role now (one gateway: just it). */
export async function labGateways(state: LabState): Promise<LabGateway[]> {
  const names = state.gateways ?? ['gateway'];
  const port = state.gateway.port;
  return Promise.all(
    names.map(async (name) => {
      const actor = state.actors.find((a) => a.name === name);
      if (!actor) throw new Error(`lab state names gateway ${name} but has no such actor`);
      const url = `http://[${actor.address}]:${port}`;
      return { name, address: actor.address, port, url, ...(actor.pid !== undefined ? { pid: actor.pid } : {}), role: await probe(actor, url) };
    }),
  );
}

/**
 * Reads the lab's state and, when it runs two gateways, points its `gateway` (the URL `lab exec`'s
 * $HYPHA_GATEWAY, `lab link`, `lab fund` and the proxies use) at the active one, writing the change
 * back. With no active gateway (during a takeover) the state stays as it was. Null when no lab is up.
 */
export async function refreshActiveGateway(dir: string): Promise<{ state: LabState; gateways: LabGateway[] } | null> {
  const state = readLabState(dir);
  if (!state) return null;
  const gateways = await labGateways(state);
  const active = gateways.find((g) => g.role === 'active');
  if (!active || active.url === state.gateway.url) return { state, gateways };
  const next: LabState = { ...state, gateway: { ...state.gateway, address: active.address, url: active.url, pid: active.pid ?? 0 } };
  writeLabState(next);
  return { state: next, gateways };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
