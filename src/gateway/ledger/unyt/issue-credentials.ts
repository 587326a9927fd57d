// Issues the gateway's Unyt credentials once, through the conductor's admin interface, into two 0600 files.
//
// For operators who do not want the gateway itself to hold the admin interface: run this where
// the admin interface is reachable, then configure appTokenFile and signingCredentialsFile.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { encodeAgentPubKey } from '../../../identity/agent-pub-key.js';
import { toBase64 } from '../../../identity/bytes.js';
import { generateSigningKeyPair } from '../../../identity/ed25519.js';
import { writeSecureFile } from '../../../identity/secure-file.js';
import { agentBytes } from './holo-hash.js';
import { DEFAULT_ROLE_NAME, DEFAULT_ZOME_NAME, GATEWAY_FUNCTIONS } from './zome-api.js';

/** Where the conductor is and which app the gateway bills through. */
export interface IssueUnytCredentialsOptions {
  readonly adminUrl: string;
  readonly appUrl: string;
  readonly installedAppId: string;
  readonly outDir: string;
  readonly roleName?: string;
  readonly zomeName?: string;
  readonly origin?: string;
  readonly timeoutMs?: number;
}

/** The files written, and the agent the gateway bills as. */
export interface IssuedUnytCredentials {
  readonly tokenFile: string;
  readonly signingCredentialsFile: string;
  /** The app's agent ("uhCAk…"): the invoicer and executor to name in customers' agreements. */
  readonly agent: string;
}

/**
 * Issues an app authentication token (reusable, no expiry) and grants a new signing key exactly
 * the functions the adapter calls; writes them as `unyt-token.json` and `unyt-signing.json`
 * (mode 0600, refusing to overwrite existing files).
 */
export async function issueUnytCredentials(o: IssueUnytCredentialsOptions): Promise<IssuedUnytCredentials> {
  const tokenFile = join(o.outDir, 'unyt-token.json');
  const signingCredentialsFile = join(o.outDir, 'unyt-signing.json');
  // Checked before the conductor is asked, so a refused run leaves no unused grant behind.
  for (const f of [tokenFile, signingCredentialsFile]) if (existsSync(f)) throw new Error(`${f} already exists; refusing to overwrite live credentials (move it away first)`);
  const hc = await import('@holochain/client');
  const wsClientOptions = { origin: o.origin ?? 'hypha' };
  const timeout = o.timeoutMs ?? 30_000;
  const admin = await hc.AdminWebsocket.connect({ url: new URL(o.adminUrl), wsClientOptions, defaultTimeout: timeout });
  let app: Awaited<ReturnType<typeof hc.AppWebsocket.connect>> | undefined;
  try {
    const { token } = await admin.issueAppAuthenticationToken({ installed_app_id: o.installedAppId, expiry_seconds: 0, single_use: false });
    app = await hc.AppWebsocket.connect({ url: new URL(o.appUrl), token, wsClientOptions, defaultTimeout: timeout });
    const info = await app.appInfo();
    const cellId = app.getCellIdFromRoleName(o.roleName ?? DEFAULT_ROLE_NAME, info);
    const pair = generateSigningKeyPair();
    const signingKeyText = encodeAgentPubKey(pair.publicKey);
    const zome = o.zomeName ?? DEFAULT_ZOME_NAME;
    const capSecret = await admin.grantSigningKey(cellId, { type: 'listed', value: GATEWAY_FUNCTIONS.map((fn): [string, string] => [zome, fn]) }, agentBytes(signingKeyText));
    const credentials = { capSecret: toBase64(capSecret), publicKey: toBase64(pair.publicKey), privateKey: toBase64(pair.secretKey), signingKey: signingKeyText };
    writeSecureFile(tokenFile, `${JSON.stringify(token)}\n`, { exclusive: true });
    writeSecureFile(signingCredentialsFile, `${JSON.stringify(credentials)}\n`, { exclusive: true });
    return { tokenFile, signingCredentialsFile, agent: encodeAgentPubKey(info.agent_pub_key.slice(3, 35)) };
  } finally {
    for (const transport of [app?.client, admin.client]) {
      if (transport instanceof hc.WsClient && transport.socket.readyState === transport.socket.OPEN) await transport.close();
    }
  }
}
