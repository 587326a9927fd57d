// `hypha lab`: a Mycelium-like network on one Linux machine — every actor a namespace with its own 400::/7 address.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../identity/error-message.js';
import { generateX25519KeyPair, loadKeyFile, myceliumAddressOfKey, newIdentity, saveKeyFile, subnet64, writeSecureFile, type Identity } from '../identity/index.js';
import { addHost, createBridge, ip, listNamespaces, namespaceName, NetnsError, nsExec, removeLab, spawnInNamespace } from './netns.js';
import { addressesPath, HYPHA_BIN, hyphaCommand, readLabState, statePath, updateLabState, writeLabState, type ActorRole, type LabActor, type LabLedgerKind, type LabState, type LabStoreKind } from './lab-state.js';
import { startPostgres, stopPostgres } from './postgres-server.js';
import { labConductorInfoPath, type LabConductorInfo } from './unyt-conductor/lab-conductor-info.js';

/** Options of `hypha lab up`. */
export interface LabUpOptions {
  readonly dir: string;
  readonly name: string;
  /** Real seconds one billed hour lasts (docs/cli.md `hypha lab up`: default 2). */
  readonly hourSeconds: number;
  readonly port?: number;
  /** Seconds a link challenge stays valid (default 300), to try expiry by hand. */
  readonly linkTtlSeconds?: number;
  /** Billing policy overrides, in (lab) hours, to watch funds run out and grace end quickly. */
  readonly depositHours?: number;
  readonly graceHours?: number;
  /** Top-level gateway config keys that replace the lab's (`--gateway-config`), to try a policy. */
  readonly gatewayConfig?: Readonly<Record<string, unknown>>;
  /** Reuse the last lab's keys and Mycelium addresses (in DIR/keys) instead of making new ones. */
  readonly keep?: boolean;
  /** The foreground `hypha lab up` process waiting for Ctrl-C, recorded so `lab down` can stop it. */
  readonly supervisorPid?: number;
  /** The ledger actor: hypha's embedded ledger (default) or the Unyt conductor stand-in (src/lab/unyt-conductor). */
  readonly ledger?: LabLedgerKind;
  /** Where the gateway keeps its state: its data folder (default) or a PostgreSQL server the lab runs in DIR/postgres. */
  readonly store?: LabStoreKind;
  /** How many gateway processes (1 or 2); two share the key and the PostgreSQL store, one active, one standby. */
  readonly gateways?: number;
}

/** A lab failure with a message for the person running it. */
export class LabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabError';
  }
}

interface PlannedHost {
  readonly name: string;
  readonly role: ActorRole;
  readonly address: string;
  readonly subnet: string;
  readonly identity: Identity;
}

/** What a lab writes in its folder (and a new lab removes). */
const LAB_ENTRIES = /^(keys|logs|gateway|gateway-2|postgres|ledger|farmer\d+|alice|bob|admin|lab\.json)$/;

/** Real milliseconds between heartbeats in the lab (then scaled into lab time). */
const LAB_HEARTBEAT_REAL_MS = 100;

/**
 * Brings a lab up: namespaces and addresses for the gateway, the customers alice and bob,
 * and the admin; a Unyt key file for each; the gateway running in its namespace. Resolves
 * once the gateway answers. On failure, everything it made is torn down again.
 */
export async function labUp(options: LabUpOptions): Promise<LabState> {
  if (process.getuid?.() !== 0) throw new LabError('the lab needs root for `ip netns` (run it as root, or with sudo)');
  const existing = readLabState(options.dir);
  if (existing) throw new LabError(`a lab is already up in ${options.dir} (name ${existing.name}); run \`${hyphaCommand()} lab down --dir ${options.dir}\` first`);
  if (!/^[a-z0-9]{1,8}$/.test(options.name)) throw new LabError('the lab name must be 1-8 lower-case letters or digits');
  const gatewayCount = options.gateways ?? 1;
  if (gatewayCount !== 1 && gatewayCount !== 2) throw new LabError(`--gateways must be 1 or 2, got ${gatewayCount}`);
  if (gatewayCount === 2 && options.store !== 'postgres') throw new LabError('--gateways 2 needs --store postgres: two gateways share one PostgreSQL store and its lease (the embedded store lives in one gateway\'s folder)');
  const roles = labRoles(gatewayCount);
  // A new lab starts clean: what the last one left (kept by `lab down` for inspection) goes.
  // With --keep the keys (and the addresses beside them) stay, and are read back below.
  const kept = options.keep === true ? readKeptHosts(options.dir, roles) : undefined;
  for (const entry of existsSync(options.dir) ? readdirSync(options.dir) : []) {
    if (LAB_ENTRIES.test(entry) && !(kept && entry === 'keys')) rmSync(join(options.dir, entry), { recursive: true, force: true });
  }
  mkdirSync(join(options.dir, 'keys'), { recursive: true, mode: 0o700 });
  // Lab VM users pass through the lab folder to their homes under farmerN/state/vms (they list
  // nothing; keys/ and logs/ stay 0700, and every key, config and state file is 0600).
  chmodSync(options.dir, (statSync(options.dir).mode & 0o7777) | 0o001);
  mkdirSync(join(options.dir, 'logs'), { recursive: true, mode: 0o700 });
  const plan = kept ?? planHosts(options.dir, roles);
  const epochMs = Date.now();
  try {
    await removeLab(options.name);
    await createBridge(options.name);
    let index = 1;
    for (const host of plan) await addHost(options.name, host.name, index++, host.address);
    const gateways = plan.filter((h) => h.role === 'gateway');
    const gw = gateways[0] as PlannedHost;
    const ledgerHost = plan.find((h) => h.role === 'ledger') as PlannedHost;
    const port = options.port ?? 8480;
    const processes = new Map<string, { pid: number; log: string; command: string[] }>();
    const unyt = options.ledger === 'unyt';
    const ledgerCommand = unyt ? unytConductorCommand(options.dir, ledgerHost, plan) : ['ledger', 'serve', '--dir', join(options.dir, 'ledger', 'data'), '--listen', ledgerHost.address, '--port', String(LEDGER_PORT), ...gateways.flatMap((g) => ['--allow', g.subnet])];
    const ledgerLog = join(options.dir, 'logs', 'ledger.log');
    const ledgerNs = namespaceName(options.name, ledgerHost.name);
    const ledgerPid = startProcess(options.dir, ledgerNs, ledgerCommand, ledgerLog);
    processes.set(ledgerHost.name, { pid: ledgerPid, log: ledgerLog, command: ledgerCommand });
    await waitForLog(ledgerLog, READY_TEXT.ledger as string, ledgerPid, 20_000);
    const ledgerConfig = unyt ? await unytLedgerConfig(options.dir, ledgerNs) : { kind: 'embedded-remote', url: `http://[${ledgerHost.address}]:${LEDGER_PORT}`, timeoutSeconds: 2 };
    const storeConfig = options.store === 'postgres' ? { kind: 'postgres', url: (await startPostgres({ dir: join(options.dir, 'postgres') })).url } : undefined;
    // The first gateway starts alone, so it takes the lease; a second one then finds it held and stands by.
    const startGateway = async (host: PlannedHost): Promise<number> => {
      const gatewayLog = join(options.dir, 'logs', `${host.name}.log`);
      const gatewayCommand = ['gateway', '--config', writeGatewayConfig(options, host, gw.identity, plan, epochMs, port, ledgerConfig, storeConfig)];
      const started = startProcess(options.dir, namespaceName(options.name, host.name), gatewayCommand, gatewayLog);
      processes.set(host.name, { pid: started, log: gatewayLog, command: gatewayCommand });
      await waitForLog(gatewayLog, GATEWAY_READY, started, 20_000);
      return started;
    };
    const gatewayUrls = gateways.map((g) => `http://[${g.address}]:${port}`);
    const gatewayUrl = gatewayUrls[0] as string;
    const actors = (): LabActor[] =>
      plan.map((h) => ({
        name: h.name,
        role: h.role,
        address: h.address,
        subnet: h.subnet,
        key: keyPath(options.dir, h.name),
        ns: namespaceName(options.name, h.name),
        ...(h.role === 'farmer' ? { node: nodeId(h.name) } : {}),
        ...(processes.get(h.name) ?? {}),
      }));
    let state: LabState = {
      v: 1,
      name: options.name,
      dir: options.dir,
      hourSeconds: options.hourSeconds,
      epochMs,
      gateway: { address: gw.address, port, url: gatewayUrl, pid: 0, agent: gw.identity.agent },
      actors: actors(),
      ...(options.store === 'postgres' ? { store: 'postgres' as const } : {}),
      ...(gateways.length > 1 ? { gateways: gateways.map((g) => g.name) } : {}),
      ...(unyt ? { ledger: 'unyt' as const } : {}),
      ...(options.supervisorPid !== undefined ? { supervisorPid: options.supervisorPid } : {}),
    };
    writeLabState(state);
    const pid = await startGateway(gw);
    state = { ...state, gateway: { ...state.gateway, pid }, actors: actors() };
    writeLabState(state);
    for (const other of gateways.slice(1)) {
      await startGateway(other);
      writeLabState({ ...state, actors: actors() });
    }
    for (const farmer of plan.filter((h) => h.role === 'farmer')) {
      const command = ['agent', '--config', writeAgentConfig(options, farmer, gatewayUrls, gw.identity.agent, epochMs)];
      const log = join(options.dir, 'logs', `${farmer.name}.log`);
      processes.set(farmer.name, { pid: startProcess(options.dir, namespaceName(options.name, farmer.name), command, log), log, command });
      writeLabState({ ...state, actors: actors() });
    }
    for (const farmer of plan.filter((h) => h.role === 'farmer')) {
      const p = processes.get(farmer.name) as { pid: number; log: string };
      await waitForLog(p.log, 'connected to the gateway', p.pid, 20_000);
    }
    const final: LabState = { ...state, actors: actors() };
    writeLabState(final);
    return final;
  } catch (err) {
    await labDown(options.dir, options.name).catch(() => undefined);
    throw err;
  }
}

/**
 * Stops every process of the lab and removes its namespaces; the lab folder stays for inspection.
 * "Every process": the actors' processes, the admin proxies and the foreground `lab up` recorded
 * in the state, and anything else still running inside the lab's namespaces (`ip netns pids`),
 * such as an admin proxy's helper. When it returns, none of them runs any more.
 */
export async function labDown(dir: string, nameIfNoState?: string): Promise<void> {
  const state = readLabState(dir);
  const name = state?.name ?? nameIfNoState;
  const recorded = [
    ...(state?.proxyPids ?? []).filter((pid) => isLabCommand(pid, 'admin-proxy')),
    ...(state?.actors ?? []).map((a) => a.pid).filter((p): p is number => p !== undefined),
  ];
  await stopAll(recorded, 5000);
  if (name !== undefined) {
    const namespaces = (await listNamespaces()).filter((ns) => ns.startsWith(`hl-${name}-`));
    const inside = (await Promise.all(namespaces.map(namespacePids))).flat();
    await stopAll(inside, 2000);
    await removeLab(name);
  }
  // After the gateways: they hold connections to it. Also when lab up failed after starting it (no state's store yet).
  if (existsSync(join(dir, 'postgres', 'data', 'postmaster.pid'))) await stopPostgres(join(dir, 'postgres'));
  rmSync(join(dir, 'lab.json'), { force: true });
  // Last, so the foreground `lab up` finds the lab gone and only says so (it also notices lab.json going).
  const supervisor = state?.supervisorPid;
  if (supervisor !== undefined && supervisor !== process.pid && isLabCommand(supervisor, 'up')) await stopAll([supervisor], 5000);
}

/** Records a running `hypha lab admin-proxy` in the lab's state, so `lab down` stops it; false when no lab is up. */
export function registerProxy(dir: string, pid: number): boolean {
  return updateLabState(dir, (s) => ({ ...s, proxyPids: [...(s.proxyPids ?? []).filter((p) => p !== pid), pid] })) !== null;
}

/** Forgets an admin proxy that stopped. */
export function unregisterProxy(dir: string, pid: number): void {
  updateLabState(dir, (s) => ({ ...s, proxyPids: (s.proxyPids ?? []).filter((p) => p !== pid) }));
}

/** SIGTERM to each pid, up to `graceMs` for them to exit, then SIGKILL to what is left. */
async function stopAll(pids: readonly number[], graceMs: number): Promise<void> {
  const mine = pids.filter((pid) => pid !== process.pid);
  for (const pid of mine) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (mine.some(alive) && Date.now() < deadline) await sleep(50);
  for (const pid of mine) if (alive(pid)) signal(pid, 'SIGKILL');
  const killedBy = Date.now() + 2000;
  while (mine.some(alive) && Date.now() < killedBy) await sleep(20);
}

/** The processes running in a network namespace. */
async function namespacePids(ns: string): Promise<number[]> {
  const out = await ip('netns', 'pids', ns).catch(() => '');
  return out
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isSafeInteger(pid) && pid > 0);
}

/** Whether `pid` still runs `hypha lab SUB` (a recorded pid may have been reused by an unrelated process since). */
function isLabCommand(pid: number, sub: string): boolean {
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  const at = args.indexOf('lab');
  return at > 0 && args[at + 1] === sub;
}

/** How long `lab stop` waits for a process to exit after its signal. */
const STOP_WAIT_MS = 30_000;

/** Stops an actor's process with `sig` (SIGTERM waits for it to exit; SIGKILL is kill -9). */
export async function labStop(dir: string, name: string, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const state = requireState(dir);
  const actor = actorOf(state, name);
  if (actor.pid === undefined) throw new LabError(`${name} runs no process`);
  refuseUnytLedgerRestart(state, actor);
  signal(actor.pid, sig);
  // A process finishing its requests in flight on a loaded host can take a while; a stuck one says why in its log.
  const deadline = Date.now() + STOP_WAIT_MS;
  while (alive(actor.pid) && Date.now() < deadline) await sleep(20);
  if (alive(actor.pid)) {
    const log = actor.log !== undefined && existsSync(actor.log) ? readFileSync(actor.log, 'utf8').split('\n').slice(-10).join('\n') : '';
    throw new LabError(`${name} (pid ${actor.pid}) did not stop within ${STOP_WAIT_MS / 1000} s of ${sig}${log ? `; its log ends:\n${log}` : ''}`);
  }
}

/** Starts an actor's process again (after labStop or a crash), and waits until it is ready. */
export async function labStart(dir: string, name: string): Promise<LabActor> {
  const state = requireState(dir);
  const actor = actorOf(state, name);
  if (!actor.command || !actor.log) throw new LabError(`${name} runs no process`);
  if (actor.pid !== undefined && alive(actor.pid)) throw new LabError(`${name} is already running (pid ${actor.pid})`);
  refuseUnytLedgerRestart(state, actor);
  const offset = existsSync(actor.log) ? readFileSync(actor.log).length : 0;
  const pid = startProcess(dir, actor.ns, [...actor.command], actor.log);
  const updated: LabActor = { ...actor, pid };
  const actors = state.actors.map((a) => (a.name === name ? updated : a));
  writeLabState({ ...state, actors, ...(actor.role === 'gateway' && actor.address === state.gateway.address ? { gateway: { ...state.gateway, pid } } : {}) });
  await waitForLog(actor.log, actor.role === 'gateway' ? GATEWAY_READY : (READY_TEXT[actor.role] ?? 'ready'), pid, 20_000, offset);
  return updated;
}

/** The Unyt conductor stand-in's agreements and balances live in its memory: a new one would not match the gateway's config. */
function refuseUnytLedgerRestart(state: LabState, actor: LabActor): void {
  if (actor.role === 'ledger' && state.ledger === 'unyt') throw new LabError('the Unyt conductor stand-in keeps its ledger in memory and cannot be stopped and started again; bring the lab down and up again');
}

/** What each kind of process logs once it is ready. */
const READY_TEXT: Partial<Record<ActorRole, string>> = { farmer: 'agent running', ledger: 'ledger listening' };
/** A gateway is ready when it serves as the active one or answers 503 as the standby (src/gateway/ha/standby-server.ts). */
const GATEWAY_READY = ['gateway listening', 'standby: answering 503'];

function requireState(dir: string): LabState {
  const state = readLabState(dir);
  if (!state) throw new LabError(`no lab is up in ${dir}`);
  return state;
}

/**
 * Links an actor's /64 to its Unyt identity the way a customer would: `hypha link` run inside the
 * actor's namespace, which asks for the challenge, checks its statement, signs and links.
 */
export async function labLink(dir: string, name: string): Promise<{ agent: string; subnet: string }> {
  const state = requireState(dir);
  const actor = actorOf(state, name);
  let out: string;
  try {
    out = await nsExec(actor.ns, process.execPath, HYPHA_BIN, 'link', '--gateway', state.gateway.url, '--key', actor.key);
  } catch (err) {
    const why = err instanceof NetnsError ? err.stderr.trim() : errorMessage(err);
    throw new LabError(`linking ${name} failed: ${why}`);
  }
  const linked = JSON.parse(out) as { agent: string; subnet: string };
  return { agent: linked.agent, subnet: linked.subnet };
}

/** The actor named `name`. */
export function actorOf(state: LabState, name: string): LabActor {
  const actor = state.actors.find((a) => a.name === name);
  if (!actor) throw new LabError(`no actor named ${JSON.stringify(name)}; actors: ${state.actors.map((a) => a.name).join(', ')}`);
  return actor;
}

/** The lab's actors and their roles, with `gateway-2` after `gateway` when the lab runs two gateways. */
function labRoles(gateways: number): ReadonlyArray<readonly [string, ActorRole]> {
  return gateways === 2 ? [LAB_ROLES[0] as readonly [string, ActorRole], ['gateway-2', 'gateway'], ...LAB_ROLES.slice(1)] : LAB_ROLES;
}

const LAB_ROLES: ReadonlyArray<readonly [string, ActorRole]> = [
  ['gateway', 'gateway'],
  ['alice', 'customer'],
  ['bob', 'customer'],
  ['admin', 'admin'],
  ['farmer1', 'farmer'],
  ['farmer2', 'farmer'],
  ['ledger', 'ledger'],
];

function planHosts(dir: string, roles: ReadonlyArray<readonly [string, ActorRole]>): PlannedHost[] {
  const subnets = new Set<string>();
  const hosts = roles.map(([name, role]) => {
    let address: string;
    do address = myceliumAddressOfKey(generateX25519KeyPair().publicKey);
    while (subnets.has(subnet64(address)));
    subnets.add(subnet64(address));
    const identity = newIdentity();
    saveKeyFile(keyPath(dir, name), identity, true);
    return { name, role, address, subnet: subnet64(address), identity };
  });
  writeSecureFile(addressesPath(dir), JSON.stringify(Object.fromEntries(hosts.map((h) => [h.name, h.address])), null, 2) + '\n');
  return hosts;
}

/** The last lab's actors with their keys and addresses (for `lab up --keep`), or LabError saying why not. */
function readKeptHosts(dir: string, roles: ReadonlyArray<readonly [string, ActorRole]>): PlannedHost[] {
  let addresses: Record<string, unknown>;
  try {
    addresses = JSON.parse(readFileSync(addressesPath(dir), 'utf8')) as Record<string, unknown>;
  } catch {
    throw new LabError(`--keep: no earlier lab's keys and addresses in ${join(dir, 'keys')}; run \`hypha lab up\` without --keep once`);
  }
  return roles.map(([name, role]) => {
    const address = addresses[name];
    if (typeof address !== 'string') throw new LabError(`--keep: ${addressesPath(dir)} has no address for ${name}; run \`hypha lab up\` without --keep`);
    let identity: Identity;
    try {
      identity = loadKeyFile(keyPath(dir, name));
    } catch (err) {
      throw new LabError(`--keep: cannot read ${name}'s key: ${errorMessage(err)}`);
    }
    return { name, role, address, subnet: subnet64(address), identity };
  });
}

function keyPath(dir: string, name: string): string {
  return join(dir, 'keys', `${name}.key`);
}

/** The node id of a farmer actor's node. */
export function nodeId(farmer: string): string {
  return `node-${farmer}`;
}

/** Capacity of each lab node: room for a handful of VMs of every size. */
export const LAB_NODE_CAPACITY = { cpu: 16, memoryGb: 64, diskGb: 800 };

/**
 * Each lab farmer's bid pricing policy: the same resource prices, and a margin that grows with
 * the farmer's number (farmer1 10 %, farmer2 25 %), so the two bid differently on one request.
 */
export function labBidding(farmer: string): Record<string, unknown> {
  const n = Number(/\d+$/.exec(farmer)?.[0] ?? '1');
  return { perCpuHour: '0.010000', perGbRamHour: '0.002000', perGbDiskHour: '0.000100', floorPerHour: '0.005000', marginPercent: n === 1 ? 10 : 10 + 15 * (n - 1) };
}

function writeAgentConfig(options: LabUpOptions, farmer: PlannedHost, gatewayUrls: readonly string[], gatewayAgent: string, epochMs: number): string {
  const dir = join(options.dir, farmer.name);
  // 0711: the farmer's lab VM users pass through to their homes; its files are 0600.
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  const speed = 3600 / options.hourSeconds;
  const config = {
    // Every gateway's URL: the agent follows a standby's 503 to the active one, and moves on when one dies.
    ...(gatewayUrls.length === 1 ? { gateway: gatewayUrls[0] } : { gateways: gatewayUrls }),
    gatewayAgent,
    keyFile: keyPath(options.dir, farmer.name),
    stateDir: join(dir, 'state'),
    nodes: [{ id: nodeId(farmer.name), subnet: farmer.subnet, capacity: LAB_NODE_CAPACITY }],
    vmDriver: { kind: 'lab', node: nodeId(farmer.name) },
    heartbeatIntervalSeconds: (LAB_HEARTBEAT_REAL_MS / 1000) * speed,
    reconnect: { minSeconds: 0.1, maxSeconds: 1 },
    lab: { hourSeconds: options.hourSeconds, epochMs },
    bidding: labBidding(farmer.name),
  };
  const path = join(dir, 'agent.json');
  writeSecureFile(path, JSON.stringify(config, null, 2) + '\n');
  return path;
}

/** The port the lab's ledger listens on. */
const LEDGER_PORT = 8490;
/** The Unyt conductor stand-in's app interface (on the ledger's lab address) and admin interface (its loopback). */
const UNYT_APP_PORT = 8491;
const UNYT_ADMIN_PORT = 8492;
/** billing.farmerSharePercent of the lab's gateway; the Unyt agreements' farmer_share_bps is 100 times it. */
const LAB_FARMER_SHARE_PERCENT = 90;

/** `hypha lab unyt-conductor …` for the ledger actor: an app and an agreement per customer. */
function unytConductorCommand(dir: string, ledgerHost: PlannedHost, plan: PlannedHost[]): string[] {
  const customers = plan.filter((h) => h.role === 'customer').flatMap((h) => ['--customer', `${h.name}=${h.identity.agent}`]);
  return ['lab', 'unyt-conductor', '--dir', join(dir, 'ledger'), '--listen', ledgerHost.address, '--port', String(UNYT_APP_PORT), '--admin-port', String(UNYT_ADMIN_PORT), '--farmer-share-bps', String(LAB_FARMER_SHARE_PERCENT * 100), ...customers];
}

/**
 * The gateway's `ledger` block for the lab's Unyt conductor. Its credentials are issued the way
 * an operator does: `hypha ledger unyt-credentials`, run where the admin interface is (the
 * ledger's namespace), into the gateway's folder.
 */
async function unytLedgerConfig(dir: string, ledgerNs: string): Promise<Record<string, unknown>> {
  const info = JSON.parse(readFileSync(labConductorInfoPath(join(dir, 'ledger')), 'utf8')) as LabConductorInfo;
  const gatewayDir = join(dir, 'gateway');
  mkdirSync(gatewayDir, { recursive: true, mode: 0o700 });
  let issued: { tokenFile: string; signingCredentialsFile: string };
  try {
    const out = await nsExec(ledgerNs, process.execPath, HYPHA_BIN, 'ledger', 'unyt-credentials', '--admin-url', info.adminUrl, '--app-url', info.appUrl, '--app-id', info.gatewayAppId, '--out', gatewayDir);
    issued = JSON.parse(out) as typeof issued;
  } catch (err) {
    throw new LabError(`issuing the gateway's Unyt credentials failed: ${err instanceof NetnsError ? err.stderr.trim() : errorMessage(err)}`);
  }
  return { kind: 'unyt', appUrl: info.appUrl, installedAppId: info.gatewayAppId, appTokenFile: issued.tokenFile, signingCredentialsFile: issued.signingCredentialsFile, agreements: info.agreements, callTimeoutSeconds: 10 };
}

/**
 * Writes gateway `gw`'s config in DIR/NAME. Every gateway of the lab has `identity` (the first one's key:
 * active and standby are one gateway to customers and agents) and listens on its own address.
 */
function writeGatewayConfig(options: LabUpOptions, gw: PlannedHost, identity: Identity, plan: PlannedHost[], epochMs: number, port: number, ledger: Record<string, unknown>, store: Record<string, unknown> | undefined): string {
  const dir = join(options.dir, gw.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  saveKeyFile(join(dir, 'gateway.key'), identity, true);
  const speed = 3600 / options.hourSeconds;
  const admin = plan.find((h) => h.role === 'admin') as PlannedHost;
  const config = {
    listen: gw.address,
    port,
    dataDir: join(dir, 'data'),
    keyFile: join(dir, 'gateway.key'),
    admins: [admin.identity.agent],
    agents: plan.filter((h) => h.role === 'farmer').map((h) => ({ agent: h.identity.agent, subnets: [h.subnet], nodes: [nodeId(h.name)] })),
    link: { challengesPerMinute: 600, ...(options.linkTtlSeconds !== undefined ? { challengeTtlSeconds: options.linkTtlSeconds } : {}) },
    heartbeatIntervalSeconds: (LAB_HEARTBEAT_REAL_MS / 1000) * speed,
    billing: {
      // An upper bound: the first close after a restart waits until every agent is back (or this long), not a fixed time.
      startupWaitSeconds: 5,
      tickSeconds: 0.1,
      farmerSharePercent: LAB_FARMER_SHARE_PERCENT,
      ...(options.depositHours !== undefined ? { depositHours: options.depositHours } : {}),
      ...(options.graceHours !== undefined ? { graceHours: options.graceHours } : {}),
    },
    // A person in the lab needs real minutes to fund an order: 720 lab hours, 24 min at --hour 2.
    // A paid order waits for room half a real minute: on a loaded host a node can miss a few of
    // its 100 ms lab heartbeats (its up-time window is 300 ms real) and be back a moment later.
    orders: { checkIntervalSeconds: 0.2, expireAfterHours: 720, roomWaitHours: 30 / options.hourSeconds },
    ledger,
    provisioner: { kind: 'agent', commandTimeoutSeconds: 10 },
    lab: { hourSeconds: options.hourSeconds, epochMs },
    ...(store !== undefined ? { store } : {}),
    ...options.gatewayConfig,
  };
  const path = join(dir, 'config.json');
  writeSecureFile(path, JSON.stringify(config, null, 2) + '\n');
  return path;
}

/** Starts `hypha ARGS…` in namespace `ns`, told it runs in the lab whose state is in `labDir`. */
function startProcess(labDir: string, ns: string, args: string[], logPath: string): number {
  const fd = openSync(logPath, 'a', 0o600);
  try {
    const child = spawnInNamespace(ns, process.execPath, [HYPHA_BIN, ...args], {
      detached: true,
      stdio: ['ignore', fd, fd],
      // HYPHA_LAB_STATE lets an agent prove it is a lab farmer before it runs lab VMs (src/agent/lab-vm/lab-only.ts).
      env: { ...process.env, HYPHA_LAB: '1', HYPHA_LAB_STATE: statePath(labDir) },
    });
    if (child.pid === undefined) throw new LabError(`could not start ${args[0]} in ${ns}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

async function waitForLog(path: string, text: string | readonly string[], pid: number, timeoutMs: number, fromByte = 0): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const texts = typeof text === 'string' ? [text] : text;
  while (Date.now() < deadline) {
    const log = existsSync(path) ? readFileSync(path).subarray(fromByte).toString('utf8') : '';
    if (texts.some((t) => log.includes(t))) return;
    if (!alive(pid)) throw new LabError(`the process exited before it was ready; its log (${path}) says:\n${log.split('\n').slice(-10).join('\n')}`);
    await sleep(50);
  }
  throw new LabError(`timed out waiting for "${texts.join('" or "')}" in ${path}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}
