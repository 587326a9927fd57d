// FakeConductor: a Holochain 0.7 app interface that @holochain/client 0.21's own AppWebsocket connects to, serving FakeTransactor.
//
// A stand-in, not Holochain: the adapter's unit tests and `hypha lab up --ledger unyt` (the lab's
// ledger actor, see lab-conductor.ts) run it because no Unyt hApp is public to run a real conductor.
//
// The wire protocol follows node_modules/@holochain/client/lib (read, not copied):
// - api/client.js WsClient: every frame is msgpack {type, data}; "authenticate" carries
//   msgpack({token}) and gets no answer (a bad token closes the socket); "request" carries
//   {id, data: msgpack({type, value})} and is answered by {id, type: "response", data:
//   msgpack({type, value})}; api/common.js catchError: an answer of type "error" has value
//   {type: <error name>, value: <message>} and becomes a HolochainError named after it.
// - api/app/websocket.js: "app_info" answers AppInfo (api/admin/types.d.ts: cell_info
//   {role: [{type: "provisioned", value: {cell_id, dna_modifiers, name}}]}); "call_zome" takes
//   {bytes, signature}: bytes = msgpack(ZomeCallParams {provenance, cell_id, zome_name, fn_name,
//   cap_secret, payload: msgpack(payload), nonce, expires_at}), signature = ed25519 over
//   sha512(bytes) by the signing key; the answer's value is msgpack of the zome's return.
// - api/admin/websocket.js: the admin interface takes the same "request" frames without
//   authenticating; issue_app_authentication_token answers {token, expires_at};
//   grant_zome_call_capability takes {cell_id, cap_grant: {tag, functions: {type: "listed",
//   value: [[zome, fn], …]} | {type: "all"}, access: {type: "assigned", value: {secret,
//   assignees}}}} (authorizeSigningCredentials / grantSigningKey).
// - holochain/holochain conductor_api app_interface: a bad signature answers
//   zome_call_authentication_failed, a call its capability grant does not cover
//   zome_call_unauthorized, a zome's own error ribosome_error.
import { decode, encode } from '@msgpack/msgpack';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { errorMessage } from '../../identity/error-message.js';
import { generateSigningKeyPair, verify } from '../../identity/ed25519.js';
import { encodeAgentPubKey } from '../../identity/agent-pub-key.js';
import { bytesEqual, toBase64 } from '../../identity/bytes.js';
import { agentBytes, agentText, holoHashText } from '../../gateway/ledger/unyt/holo-hash.js';
import { FakeTransactor, ZomeError } from './fake-transactor.js';

/** One installed app: one agent's cell of the Unyt DNA. */
export interface FakeApp {
  readonly installedAppId: string;
  readonly agent: string;
  /** The app authentication token (issue_app_authentication_token), as its bytes. */
  readonly token: number[];
  /** Zome-call signing credentials granted on this cell, in the signing-credentials file format. */
  readonly credentials: { capSecret: string; publicKey: string; privateKey: string; signingKey: string };
}

interface Grant {
  readonly signingKey: Uint8Array;
  readonly capSecret: Uint8Array;
  /** Functions the grant covers ("listed" access), or undefined for all. */
  readonly functions: ReadonlySet<string> | undefined;
}

interface InstalledApp extends FakeApp {
  readonly agentRaw: Uint8Array;
  readonly grants: Grant[];
  /** Every token issued for the app (the first is `token`). */
  readonly tokens: number[][];
}

/** How many remembered nonces trigger forgetting the expired ones (client calls expire after 5 minutes). */
const NONCE_SWEEP_AT = 10_000;

const DNA_HASH = Uint8Array.of(0x84, 0x2d, 0x24, ...new Uint8Array(32).fill(0x44), 0, 0, 0, 0);

/**
 * A conductor with an app interface on 127.0.0.1: apps (one agent each) share one
 * FakeTransactor, like cells of one DNA share a DHT. It can stop (outage) and start again on
 * the same port, hang chosen functions (a call that never answers), or run them late (a call
 * whose caller gave up, run after the caller's next call of the function was sent).
 */
export class FakeConductor {
  readonly transactor: FakeTransactor;
  readonly roleName: string;
  readonly zomeName: string;
  /** Every zome call that reached a zome: app id and function, in order. */
  readonly calls: { app: string; fn: string; payload: unknown }[] = [];
  /** Functions that never answer while listed. */
  readonly hang = new Set<string>();
  /**
   * Functions whose calls are run late while listed: a call is held unanswered and runs just
   * before the next call of the same function, as a busy conductor works through a queue the
   * caller already gave up on (a real conductor runs calls concurrently and answers in any order).
   */
  readonly late = new Set<string>();
  /** Calls held by `late`, run in order before the next call of their function. */
  readonly #held: { fn: string; run: () => void }[] = [];
  readonly #apps = new Map<string, InstalledApp>();
  /** Nonces of accepted calls and when each call expires (µs): an expired call is refused anyway, so its nonce is forgotten then. */
  readonly #usedNonces = new Map<string, number>();
  #server: WebSocketServer | undefined;
  #admin: WebSocketServer | undefined;
  #port = 0;
  readonly #host: string;
  readonly #adminHost: string;
  readonly #adminPort: number;
  readonly #afterCall: ((app: string, fn: string) => void) | undefined;

  constructor(
    transactor: FakeTransactor,
    options: { roleName?: string; zomeName?: string; host?: string; port?: number; adminHost?: string; adminPort?: number; afterCall?: (app: string, fn: string) => void } = {},
  ) {
    this.transactor = transactor;
    this.roleName = options.roleName ?? 'alliance';
    this.zomeName = options.zomeName ?? 'transactor';
    this.#host = options.host ?? '127.0.0.1';
    this.#port = options.port ?? 0;
    this.#adminHost = options.adminHost ?? '127.0.0.1';
    this.#adminPort = options.adminPort ?? 0;
    this.#afterCall = options.afterCall;
  }

  get url(): string {
    return `ws://${wsHost(this.#host)}:${this.#port}`;
  }

  /** Listens (again, on the same port after a stop). */
  async start(): Promise<void> {
    const server = new WebSocketServer({ host: this.#host, port: this.#port });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    this.#port = (server.address() as AddressInfo).port;
    server.on('connection', (socket) => this.#serve(socket));
    this.#server = server;
  }

  /** The admin interface's URL (after startAdmin). */
  get adminUrl(): string {
    return `ws://${wsHost(this.#adminHost)}:${(this.#admin?.address() as AddressInfo | undefined)?.port ?? 0}`;
  }

  /** Opens an admin interface (issue_app_authentication_token, grant_zome_call_capability). */
  async startAdmin(): Promise<void> {
    const server = new WebSocketServer({ host: this.#adminHost, port: this.#adminPort });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    server.on('connection', (socket) => this.#serveAdmin(socket));
    this.#admin = server;
  }

  /** The grants of an app's cell (for assertions): each signing key's listed functions, or "all". */
  grantsOf(installedAppId: string): Array<readonly string[] | 'all'> {
    return (this.#apps.get(installedAppId)?.grants ?? []).map((g) => (g.functions === undefined ? 'all' : [...g.functions].sort()));
  }

  /** Stops listening and drops every connection (an outage). */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    for (const client of server.clients) client.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Stops the admin interface too. */
  async stopAll(): Promise<void> {
    await this.stop();
    const admin = this.#admin;
    this.#admin = undefined;
    if (admin === undefined) return;
    for (const client of admin.clients) client.terminate();
    await new Promise<void>((resolve) => admin.close(() => resolve()));
  }

  /**
   * Installs an app for a new agent and grants a signing key `functions` of the zome (all when
   * omitted), as AdminWebsocket.authorizeSigningCredentials does.
   */
  install(installedAppId: string, functions?: readonly string[], agentPubKey?: string): FakeApp {
    // A given agent key stands for one the conductor's keystore holds (the lab's actors' keys).
    const agent = agentPubKey ?? encodeAgentPubKey(generateSigningKeyPair().publicKey);
    const signing = generateSigningKeyPair();
    const signingKey = agentBytes(encodeAgentPubKey(signing.publicKey));
    const capSecret = new Uint8Array(randomBytes(64));
    const token = [...randomBytes(32)];
    const app: InstalledApp = {
      installedAppId,
      agent,
      agentRaw: agentBytes(agent),
      token,
      tokens: [token],
      credentials: {
        capSecret: toBase64(capSecret),
        publicKey: toBase64(signing.publicKey),
        privateKey: toBase64(signing.secretKey),
        signingKey: agentText(signingKey) as string,
      },
      grants: [{ signingKey, capSecret, functions: functions === undefined ? undefined : new Set(functions) }],
    };
    this.#apps.set(installedAppId, app);
    return app;
  }

  #serve(socket: WebSocket): void {
    let app: InstalledApp | undefined;
    socket.on('message', (raw: Buffer) => {
      let frame: { type?: unknown; id?: unknown; data?: unknown };
      try {
        frame = decode(raw) as typeof frame;
      } catch {
        socket.close(1003);
        return;
      }
      if (frame.type === 'authenticate') {
        const { token } = decode(frame.data as Uint8Array) as { token?: unknown };
        app = [...this.#apps.values()].find((a) => a.tokens.some((t) => Array.isArray(token) && t.length === token.length && t.every((b, i) => b === token[i])));
        if (app === undefined) socket.close(4001, 'invalid token');
        return;
      }
      if (frame.type !== 'request' || typeof frame.id !== 'number') return;
      if (app === undefined) {
        socket.close(4001, 'not authenticated');
        return;
      }
      const request = decode(frame.data as Uint8Array) as { type: string; value: unknown };
      const answer = (body: { type: string; value: unknown }): void => {
        if (socket.readyState === socket.OPEN) socket.send(encode({ id: frame.id, type: 'response', data: encode(body) }));
      };
      if (request.type === 'app_info') {
        answer({ type: 'app_info', value: this.#appInfo(app) });
      } else if (request.type === 'call_zome') {
        const result = this.#callZome(app, request.value as { bytes: Uint8Array; signature: Uint8Array });
        if (result !== 'hang') answer(result);
      } else {
        answer({ type: 'error', value: { type: 'internal_error', value: `unsupported request ${request.type}` } });
      }
    });
  }

  /** Keeps the nonce table bounded in a long-running lab conductor. */
  #forgetExpiredNonces(): void {
    if (this.#usedNonces.size < NONCE_SWEEP_AT) return;
    const nowMicros = Date.now() * 1000;
    for (const [nonce, expiresAt] of this.#usedNonces) if (expiresAt < nowMicros) this.#usedNonces.delete(nonce);
  }

  #serveAdmin(socket: WebSocket): void {
    socket.on('message', (raw: Buffer) => {
      const frame = decode(raw) as { type?: unknown; id?: unknown; data?: unknown };
      if (frame.type !== 'request' || typeof frame.id !== 'number') return;
      const request = decode(frame.data as Uint8Array) as { type: string; value: Record<string, unknown> };
      const answer = (body: { type: string; value: unknown }): void => {
        socket.send(encode({ id: frame.id, type: 'response', data: encode(body) }));
      };
      if (request.type === 'issue_app_authentication_token') {
        const app = this.#apps.get(String(request.value.installed_app_id));
        if (app === undefined) return answer({ type: 'error', value: { type: 'internal_error', value: 'no such app' } });
        const token = [...randomBytes(32)];
        app.tokens.push(token);
        return answer({ type: 'app_authentication_token_issued', value: { token, expires_at: null } });
      }
      if (request.type === 'grant_zome_call_capability') {
        const cellId = request.value.cell_id as [Uint8Array, Uint8Array];
        const app = [...this.#apps.values()].find((a) => bytesEqual(a.agentRaw, cellId[1]));
        const grant = request.value.cap_grant as { functions: { type: string; value?: [string, string][] }; access: { type: string; value: { secret: Uint8Array; assignees: Uint8Array[] } } };
        if (app === undefined || grant.access.type !== 'assigned') return answer({ type: 'error', value: { type: 'internal_error', value: 'no such cell, or not an assigned grant' } });
        const functions = grant.functions.type === 'all' ? undefined : new Set((grant.functions.value ?? []).filter(([z]) => z === this.zomeName).map(([, f]) => f));
        for (const assignee of grant.access.value.assignees) app.grants.push({ signingKey: assignee, capSecret: grant.access.value.secret, functions });
        return answer({ type: 'zome_call_capability_granted', value: null });
      }
      return answer({ type: 'error', value: { type: 'internal_error', value: `unsupported admin request ${request.type}` } });
    });
  }

  #appInfo(app: InstalledApp): unknown {
    return {
      agent_pub_key: app.agentRaw,
      installed_app_id: app.installedAppId,
      cell_info: {
        [this.roleName]: [{ type: 'provisioned', value: { cell_id: [DNA_HASH, app.agentRaw], dna_modifiers: { network_seed: '', properties: new Uint8Array() }, name: this.roleName } }],
      },
      status: { type: 'enabled' },
      installed_at: Date.now() * 1000,
    };
  }

  #callZome(app: InstalledApp, signed: { bytes: Uint8Array; signature: Uint8Array }): { type: string; value: unknown } | 'hang' {
    const error = (type: string, message: string): { type: string; value: unknown } => ({ type: 'error', value: { type, value: message } });
    let params: { provenance: Uint8Array; cell_id: [Uint8Array, Uint8Array]; zome_name: string; fn_name: string; cap_secret: Uint8Array | null; payload: Uint8Array; nonce: Uint8Array; expires_at: number };
    try {
      params = decode(signed.bytes) as typeof params;
    } catch {
      return error('deserialization', 'zome call bytes are not msgpack');
    }
    const provenanceKey = params.provenance.subarray(3, 35);
    const digest = new Uint8Array(createHash('sha512').update(signed.bytes).digest());
    if (signed.signature.length !== 64 || !verify(signed.signature, digest, provenanceKey)) {
      return error('zome_call_authentication_failed', `Authentication failure. Bad signature by provenance ${holoHashText(params.provenance)}.`);
    }
    if (!bytesEqual(params.cell_id[1], app.agentRaw) || !bytesEqual(params.cell_id[0], DNA_HASH)) return error('internal_error', 'no such cell in this app');
    const grant = app.grants.find((g) => bytesEqual(g.signingKey, params.provenance) && params.cap_secret !== null && bytesEqual(g.capSecret, params.cap_secret));
    if (params.zome_name !== this.zomeName || grant === undefined || (grant.functions !== undefined && !grant.functions.has(params.fn_name))) {
      return error('zome_call_unauthorized', `Call was not authorized with cap secret for ${params.zome_name}/${params.fn_name}`);
    }
    const nonce = Buffer.from(params.nonce).toString('hex');
    if (this.#usedNonces.has(nonce)) return error('internal_error', 'nonce already used');
    if (Number(params.expires_at) < Date.now() * 1000) return error('internal_error', 'zome call expired');
    this.#forgetExpiredNonces();
    this.#usedNonces.set(nonce, Number(params.expires_at));
    if (this.hang.has(params.fn_name)) return 'hang';
    const fn = params.fn_name;
    const payload = decode(params.payload);
    for (const held of this.#held.filter((h) => h.fn === fn)) {
      this.#held.splice(this.#held.indexOf(held), 1);
      held.run();
    }
    if (this.late.has(fn)) {
      this.#held.push({ fn, run: () => void this.#run(app, fn, payload, error) });
      return 'hang';
    }
    return this.#run(app, fn, payload, error);
  }

  /** Runs one zome call that passed its checks. */
  #run(app: InstalledApp, fn: string, payload: unknown, error: (type: string, message: string) => { type: string; value: unknown }): { type: string; value: unknown } {
    this.calls.push({ app: app.installedAppId, fn, payload });
    try {
      const value = encode(this.transactor.call(app.agent, fn, payload));
      this.#afterCall?.(app.installedAppId, fn);
      return { type: 'zome_called', value };
    } catch (e) {
      if (e instanceof ZomeError) return error('ribosome_error', `Wasm runtime error while working with Ribosome: ${e.message}`);
      return error('internal_error', errorMessage(e));
    }
  }
}

/** A host as it goes in a ws:// URL (IPv6 in brackets). */
function wsHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
