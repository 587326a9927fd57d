// The connection to the Unyt conductor: @holochain/client's AppWebsocket, narrowed to the calls the adapter makes.
import { agentText } from './holo-hash.js';
import { GATEWAY_FUNCTIONS } from './zome-api.js';
import type { UnytLedgerConfig } from './config.js';
import { fromBase64 } from '../../../identity/bytes.js';
import { readSecureFile } from '../../../identity/secure-file.js';

/** What the adapter needs of an app connection. */
export interface UnytAppClient {
  /** The agent this app's cell runs as ("uhCAk…"): the gateway's Unyt identity, the RAVE executor. */
  readonly agent: string;
  /** One zome call on the configured role and zome; rejects with the client's error (its `name` is the wire error type). */
  callZome(fnName: string, payload: unknown, timeoutMs: number): Promise<unknown>;
  close(): Promise<void>;
}

/** Opens an app connection; called again after a connection failed. */
export type UnytAppClientFactory = () => Promise<UnytAppClient>;

/**
 * The default factory: imports @holochain/client on first use, obtains a token and signing
 * credentials (issued through the admin interface, or read from 0600 files), and connects.
 * Through the admin interface the signing key is granted only the functions hypha calls.
 */
export function holochainAppClientFactory(c: UnytLedgerConfig): UnytAppClientFactory {
  // What the admin interface issued is kept for reconnects: a token (reusable, no expiry) and one
  // signing grant per factory, so an unsteady connection does not pile up grants on the conductor.
  let issuedToken: number[] | undefined;
  let authorized = false;
  return async () => {
    const hc = await import('@holochain/client');
    const wsClientOptions = { origin: c.origin };
    const needAdmin = c.adminUrl !== undefined && ((c.appTokenFile === undefined && issuedToken === undefined) || (c.signingCredentialsFile === undefined && !authorized));
    const admin = needAdmin ? await hc.AdminWebsocket.connect({ url: new URL(c.adminUrl), wsClientOptions, defaultTimeout: c.callTimeoutMs }) : undefined;
    let app: Awaited<ReturnType<typeof hc.AppWebsocket.connect>> | undefined;
    try {
      if (c.appTokenFile === undefined && issuedToken === undefined) {
        issuedToken = (await (admin as NonNullable<typeof admin>).issueAppAuthenticationToken({ installed_app_id: c.installedAppId, expiry_seconds: 0, single_use: false })).token;
      }
      const token = c.appTokenFile !== undefined ? readTokenFile(c.appTokenFile) : (issuedToken as number[]);
      app = await hc.AppWebsocket.connect({ url: new URL(c.appUrl), token, wsClientOptions, defaultTimeout: c.callTimeoutMs });
      const cellId = app.getCellIdFromRoleName(c.roleName, await app.appInfo());
      if (c.signingCredentialsFile !== undefined) {
        hc.setSigningCredentials(cellId, readSigningCredentials(c.signingCredentialsFile));
      } else if (!authorized) {
        // The client keeps the credentials per cell for every later AppWebsocket of this process.
        const functions = GATEWAY_FUNCTIONS.map((fn): [string, string] => [c.zomeName, fn]);
        await (admin as NonNullable<typeof admin>).authorizeSigningCredentials(cellId, { type: 'listed', value: functions });
        authorized = true;
      }
      const agent = agentText(app.myPubKey);
      if (agent === undefined) throw new Error('the conductor answered app_info with an agent key that is not one');
      const ws = app;
      return {
        agent,
        callZome: (fn, payload, timeoutMs) => ws.callZome<unknown>({ role_name: c.roleName, zome_name: c.zomeName, fn_name: fn, payload }, timeoutMs),
        close: () => closeTransport(hc, ws.client),
      };
    } catch (e) {
      if (app !== undefined) await closeTransport(hc, app.client).catch(() => undefined);
      throw e;
    } finally {
      await admin?.client.close().catch(() => undefined);
    }
  };
}

/** An app authentication token file: a JSON array of bytes, as issue_app_authentication_token returns; 0600. */
export function readTokenFile(path: string): number[] {
  const parsed: unknown = JSON.parse(readSecureFile(path).toString('utf8'));
  if (!Array.isArray(parsed) || parsed.length === 0 || parsed.length > 1024 || !parsed.every((b) => Number.isInteger(b) && (b as number) >= 0 && (b as number) < 256)) {
    throw new Error(`${path}: an app authentication token file holds a JSON array of bytes, as issue_app_authentication_token returns`);
  }
  return parsed as number[];
}

/** Zome-call signing credentials as @holochain/client's setSigningCredentials takes them. */
export interface SigningCredentials {
  readonly capSecret: Uint8Array;
  readonly keyPair: { readonly publicKey: Uint8Array; readonly privateKey: Uint8Array };
  readonly signingKey: Uint8Array;
}

/**
 * A signing-credentials file (0600): {capSecret (64 bytes), publicKey (32), privateKey (64,
 * libsodium seed||public), all base64, signingKey ("uhCAk…", the agent the grant names)}.
 */
export function readSigningCredentials(path: string): SigningCredentials & { keyPair: { publicKey: Uint8Array; privateKey: Uint8Array; keyType: 'ed25519' } } {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(readSecureFile(path).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof SyntaxError) throw new Error(`${path}: not JSON; expected {capSecret, publicKey, privateKey, signingKey}`);
    throw e;
  }
  if (doc === null || typeof doc !== 'object') throw new Error(`${path}: expected {capSecret, publicKey, privateKey, signingKey}`);
  const signingKey = signingKeyBytes(path, doc.signingKey);
  return {
    capSecret: fromBase64(`${path}: capSecret`, doc.capSecret, 64),
    keyPair: { publicKey: fromBase64(`${path}: publicKey`, doc.publicKey, 32), privateKey: fromBase64(`${path}: privateKey`, doc.privateKey, 64), keyType: 'ed25519' },
    signingKey,
  };
}

function signingKeyBytes(path: string, text: unknown): Uint8Array {
  if (typeof text !== 'string') throw new Error(`${path}: signingKey must be an AgentPubKey string ("uhCAk…")`);
  const raw = fromBase64(`${path}: signingKey`, text.slice(1), 39);
  if (agentText(raw) !== text) throw new Error(`${path}: signingKey is not a valid AgentPubKey`);
  return raw;
}

/**
 * Closes an app connection. @holochain/client 0.21 types `AppWebsocket.client` as a transport that
 * may be Tauri IPC (no close); over a websocket it is a `WsClient`. Its close() waits for a close
 * event, which a socket the conductor already dropped never sends again: only a live one is closed.
 */
async function closeTransport(hc: typeof import('@holochain/client'), transport: unknown): Promise<void> {
  if (!(transport instanceof hc.WsClient)) return;
  const socket = transport.socket;
  if (socket.readyState === socket.CLOSED) return;
  if (socket.readyState === socket.CLOSING) {
    socket.terminate();
    return;
  }
  await transport.close();
}
