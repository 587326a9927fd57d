// The lab's agent-run VMs: SSH servers (ssh2) on their own Mycelium addresses in the node's /64, persisted so a restarted agent restores them.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import type { AuthContext, Connection, ParsedKey, PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import {
  fromHex,
  normaliseIpv6,
  parseSubnet64,
  randomBytes,
  readSecureFile,
  SecureFileError,
  subnet64Of,
  toHex,
  vmAddress,
  writeSecureFile,
} from '../identity/index.js';
import { VmDriverError, type VmDeployRequest, type VmDriver, type VmInfo, type VmState } from './vm-driver.js';

const execFileAsync = promisify(execFile);

/** sshd's MaxAuthTries default: failed key offers allowed before the connection is dropped. */
const MAX_AUTH_TRIES = 6;
/** How long a client may take to authenticate; sshd's LoginGraceTime is 120 s, a lab needs less. */
const LOGIN_GRACE_MS = 30_000;
/** Concurrent TCP connections per VM: each session forks a shell, so a lab VM caps them. */
const MAX_CONNECTIONS_PER_VM = 32;
/** How long a connection told to end may linger before its socket is destroyed. */
const END_GRACE_MS = 1_000;
/** How long a session's processes get after SIGHUP (what sshd sends on hang-up) before SIGKILL. */
const HANGUP_GRACE_MS = 2_000;
const MAX_SSH_KEYS = 64;
const MAX_SSH_KEY_CHARS = 16_384;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const SEED_HEX_PATTERN = /^[0-9a-fA-F]{12}$/;
/** Client `env` requests honoured, as sshd's usual AcceptEnv. */
const ACCEPTED_ENV = /^(LANG|LC_[A-Z]+|TZ)$/;
const TERM_PATTERN = /^[A-Za-z0-9._+-]{1,64}$/;
const SESSION_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const STATE_FILE = 'lab-vms.json';
const STATE_VERSION = 1;
const HOST_KEY_FILE = 'ssh_host_ed25519_key';
/** Signals a client may send (RFC 4254 section 6.10 names, without "SIG"). */
const FORWARDED_SIGNALS = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);

/** Options for LabVmDriver. */
export interface LabVmDriverOptions {
  /** Folder for the state file, host keys and home folders; created mode 0700 if missing. */
  readonly stateDir: string;
  /** The node's Mycelium /64 in CIDR text ("570:75b1:b695:5ed7::/64"); VM addresses are carved from it. */
  readonly nodeSubnet: string;
  /** The interface VM addresses are added to: Mycelium's TUN (default name `mycelium`). */
  readonly interfaceName?: string;
  readonly sshPort?: number;
}

/** One VM as persisted in the state file. */
interface VmRecord {
  readonly id: string;
  readonly seedHex: string;
  readonly myceliumIp: string;
  readonly state: 'running' | 'paused';
  readonly sshKeys: readonly string[];
  readonly createdAtMs: number;
}

interface StateFile {
  readonly version: number;
  readonly nodeSubnet: string;
  readonly vms: readonly VmRecord[];
}

/** An authorized key, parsed once: login compares the type and the public blob, then checks the signature. */
interface AuthorizedKey {
  readonly type: string;
  readonly blob: Buffer;
  readonly key: ParsedKey;
}

/** One client TCP connection and what runs on its behalf. */
interface LiveConnection {
  readonly conn: Connection;
  readonly socket: Socket;
  /** The public blob of the key that logged in; unset until authenticated. */
  keyBlob?: Buffer;
  readonly children: Set<ChildProcess>;
}

/** A running VM's listener and its open connections. */
interface Endpoint {
  readonly server: NetServer;
  readonly sockets: Map<string, Socket>;
  readonly connections: Set<LiveConnection>;
}

interface LabVm {
  record: VmRecord;
  authorized: readonly AuthorizedKey[];
  readonly hostKeyPem: Buffer;
  readonly hostPublicKeySsh: string;
  endpoint?: Endpoint;
}

/**
 * A VmDriver for the lab: a "VM" is a real SSH endpoint on its own 400::/7 address inside the
 * node's /64 (prefix + ff0f + 6-byte seed, as grid VMs get), run by the agent inside the node's
 * network namespace. Only the given public keys may log in as root; commands run with /bin/sh
 * in the VM's home folder. Operations run one at a time, so the state file never races.
 */
export class LabVmDriver implements VmDriver {
  private readonly stateDir: string;
  private readonly nodeSubnet: string;
  private readonly prefix: Uint8Array;
  private readonly interfaceName: string;
  private readonly sshPort: number;
  private readonly vms = new Map<string, LabVm>();
  private started = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: LabVmDriverOptions) {
    if (typeof options.stateDir !== 'string' || options.stateDir === '') {
      throw new VmDriverError('invalid_request', 'labvm: stateDir must be a folder path');
    }
    try {
      this.prefix = parseSubnet64(options.nodeSubnet);
    } catch (err) {
      throw new VmDriverError('invalid_request', `labvm: nodeSubnet: ${(err as Error).message}`, { cause: err });
    }
    const interfaceName = options.interfaceName ?? 'mycelium';
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(interfaceName)) {
      throw new VmDriverError('invalid_request', 'labvm: interfaceName must be a Linux interface name (1-15 characters)');
    }
    const sshPort = options.sshPort ?? 22;
    if (!Number.isInteger(sshPort) || sshPort < 1 || sshPort > 65_535) {
      throw new VmDriverError('invalid_request', 'labvm: sshPort must be an integer from 1 to 65535');
    }
    this.stateDir = options.stateDir;
    const subnetBytes = new Uint8Array(16);
    subnetBytes.set(this.prefix);
    this.nodeSubnet = subnet64Of(subnetBytes);
    this.interfaceName = interfaceName;
    this.sshPort = sshPort;
  }

  /** Loads the state folder and brings persisted running VMs back; on failure closes what it opened. */
  start(): Promise<void> {
    return this.serial('start', false, async () => {
      if (this.started) return;
      await mkdir(join(this.stateDir, 'vms'), { recursive: true, mode: 0o700 });
      try {
        for (const record of this.loadState()) {
          const vm = this.restoreVm(record);
          this.vms.set(record.id, vm);
          if (record.state === 'running') await this.bringUp(vm);
          else await this.takeDown(vm);
        }
      } catch (err) {
        await Promise.all([...this.vms.values()].map((vm) => this.stopEndpoint(vm)));
        this.vms.clear();
        throw err;
      }
      this.started = true;
    });
  }

  deploy(request: VmDeployRequest): Promise<VmInfo> {
    return this.serial('deploy', true, async () => {
      if (typeof request !== 'object' || request === null) throw invalid('the request must be an object {id, sshKeys, seedHex?}');
      const id = checkId(request.id);
      const authorized = parseAuthorizedKeys(request.sshKeys);
      const wantedSeed = request.seedHex === undefined ? undefined : checkSeedHex(request.seedHex);
      const existing = this.vms.get(id);
      if (existing) {
        if (wantedSeed !== undefined && wantedSeed !== existing.record.seedHex) {
          throw new VmDriverError('conflict', `VM ${id} exists with another seed; destroy it first to change its address`);
        }
        return infoOf(existing);
      }
      const seedHex = wantedSeed ?? this.freshSeedHex();
      const myceliumIp = vmAddress(this.prefix, fromHex('seedHex', seedHex, 6));
      const holder = [...this.vms.values()].find((vm) => vm.record.myceliumIp === myceliumIp);
      if (holder) throw new VmDriverError('conflict', `seedHex ${seedHex} gives the address of VM ${holder.record.id}; pick another seed`);

      const dir = this.vmDir(id);
      await rm(dir, { recursive: true, force: true });
      await mkdir(join(dir, 'home'), { recursive: true, mode: 0o700 });
      const hostKeyPem = Buffer.from(ssh2.utils.generateKeyPairSync('ed25519').private, 'utf8');
      writeSecureFile(join(dir, HOST_KEY_FILE), hostKeyPem);
      const vm: LabVm = {
        record: { id, seedHex, myceliumIp, state: 'running', sshKeys: request.sshKeys.map((k) => k.trim()), createdAtMs: Date.now() },
        authorized,
        hostKeyPem,
        hostPublicKeySsh: hostPublicKeySshOf(hostKeyPem),
      };
      this.vms.set(id, vm);
      try {
        this.saveState();
        await this.bringUp(vm);
      } catch (err) {
        await this.takeDown(vm).catch(() => undefined);
        this.vms.delete(id);
        try {
          this.saveState();
        } catch {
          // The record stays on disk; the next start brings it up and a retried deploy returns it.
        }
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
        throw err;
      }
      return infoOf(vm);
    });
  }

  pause(id: string): Promise<VmInfo> {
    return this.serial('pause', true, async () => {
      const vm = this.get(id);
      // Saved first: a crash half-way still restarts the VM paused, which is what billing asked for.
      if (vm.record.state !== 'paused') this.setRecord(vm, { ...vm.record, state: 'paused' });
      await this.takeDown(vm);
      return infoOf(vm);
    });
  }

  resume(id: string): Promise<VmInfo> {
    return this.serial('resume', true, async () => {
      const vm = this.get(id);
      if (vm.record.state === 'running') {
        await this.bringUp(vm);
        return infoOf(vm);
      }
      const paused = vm.record;
      this.setRecord(vm, { ...paused, state: 'running' });
      try {
        await this.bringUp(vm);
      } catch (err) {
        await this.takeDown(vm).catch(() => undefined);
        try {
          this.setRecord(vm, paused);
        } catch {
          // Left "running" on disk: the next start retries bringing it up.
        }
        throw err;
      }
      return infoOf(vm);
    });
  }

  destroy(id: string): Promise<void> {
    return this.serial('destroy', true, async () => {
      checkId(id);
      const vm = this.vms.get(id);
      if (vm) {
        await this.takeDown(vm);
        this.vms.delete(id);
        try {
          this.saveState();
        } catch (err) {
          this.vms.set(id, vm);
          throw err;
        }
      }
      await rm(this.vmDir(id), { recursive: true, force: true });
    });
  }

  status(id: string): Promise<VmState> {
    return this.serial('status', true, () => Promise.resolve(this.vms.get(checkId(id))?.record.state ?? 'gone'));
  }

  setSshKeys(id: string, sshKeys: readonly string[]): Promise<VmInfo> {
    return this.serial('setSshKeys', true, () => {
      const vm = this.get(id);
      const authorized = parseAuthorizedKeys(sshKeys);
      this.setRecord(vm, { ...vm.record, sshKeys: sshKeys.map((k) => k.trim()) });
      vm.authorized = authorized;
      for (const live of vm.endpoint?.connections ?? []) {
        if (live.keyBlob && !authorized.some((k) => sameBytes(k.blob, live.keyBlob as Buffer))) endConnection(live);
      }
      return Promise.resolve(infoOf(vm));
    });
  }

  list(): Promise<VmInfo[]> {
    return this.serial('list', true, () => Promise.resolve([...this.vms.values()].map(infoOf)));
  }

  /** Stops every VM's server and ends its sessions; addresses and state stay for the next start. */
  close(): Promise<void> {
    return this.serial('close', false, async () => {
      if (!this.started) return;
      this.started = false;
      await Promise.all([...this.vms.values()].map((vm) => this.stopEndpoint(vm)));
      this.vms.clear();
    });
  }

  /** Runs `fn` after every earlier operation, wrapping what it throws with the operation's name. */
  private serial<T>(op: string, needsStart: boolean, fn: () => Promise<T>): Promise<T> {
    const task = this.queue
      .then(() => {
        if (needsStart && !this.started) throw new VmDriverError('not_started', 'the driver is not started; call start() first');
        return fn();
      })
      .catch((err: unknown) => {
        throw wrapError(op, err);
      });
    this.queue = task.catch(() => undefined);
    return task;
  }

  private get(id: string): LabVm {
    const vm = this.vms.get(checkId(id));
    if (!vm) throw new VmDriverError('not_found', `no VM ${id}; list() shows the VMs this agent runs`);
    return vm;
  }

  private vmDir(id: string): string {
    return join(this.stateDir, 'vms', id);
  }

  private freshSeedHex(): string {
    const taken = new Set([...this.vms.values()].map((vm) => vm.record.seedHex));
    for (;;) {
      const seedHex = toHex(randomBytes(6));
      if (!taken.has(seedHex)) return seedHex;
    }
  }

  /** Replaces a VM's record and saves; the old record stays when saving fails. */
  private setRecord(vm: LabVm, record: VmRecord): void {
    const before = vm.record;
    vm.record = record;
    try {
      this.saveState();
    } catch (err) {
      vm.record = before;
      throw err;
    }
  }

  private saveState(): void {
    const state: StateFile = { version: STATE_VERSION, nodeSubnet: this.nodeSubnet, vms: [...this.vms.values()].map((vm) => vm.record) };
    writeSecureFile(join(this.stateDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  }

  private loadState(): VmRecord[] {
    const path = join(this.stateDir, STATE_FILE);
    let text: string;
    try {
      text = readSecureFile(path).toString('utf8');
    } catch (err) {
      if (err instanceof SecureFileError && err.problem === 'not_found') return [];
      throw err;
    }
    let state: unknown;
    try {
      state = JSON.parse(text);
    } catch {
      throw new VmDriverError('failed', `${path} is not JSON; restore it from a backup or move it away`);
    }
    const s = state as Partial<StateFile>;
    if (s.version !== STATE_VERSION || !Array.isArray(s.vms)) {
      throw new VmDriverError('failed', `${path} is not a version ${STATE_VERSION} lab VM state file`);
    }
    if (s.nodeSubnet !== this.nodeSubnet) {
      throw new VmDriverError('failed', `${path} holds VMs of node subnet ${String(s.nodeSubnet)}, not ${this.nodeSubnet}; give this node its own stateDir`);
    }
    return s.vms.map((raw: unknown, i) => this.checkRecord(raw, `${path}: vms[${i}]`));
  }

  private checkRecord(raw: unknown, where: string): VmRecord {
    const r = raw as Partial<VmRecord>;
    const ok =
      typeof r === 'object' &&
      r !== null &&
      typeof r.id === 'string' &&
      ID_PATTERN.test(r.id) &&
      typeof r.seedHex === 'string' &&
      SEED_HEX_PATTERN.test(r.seedHex) &&
      (r.state === 'running' || r.state === 'paused') &&
      Array.isArray(r.sshKeys) &&
      r.sshKeys.every((k) => typeof k === 'string') &&
      typeof r.createdAtMs === 'number';
    if (!ok) throw new VmDriverError('failed', `${where} is malformed`);
    const myceliumIp = vmAddress(this.prefix, fromHex('seedHex', r.seedHex, 6));
    if (typeof r.myceliumIp !== 'string' || normaliseIpv6(r.myceliumIp) !== myceliumIp) {
      throw new VmDriverError('failed', `${where}: its address does not match its seed in ${this.nodeSubnet}`);
    }
    return { id: r.id, seedHex: r.seedHex.toLowerCase(), myceliumIp, state: r.state, sshKeys: r.sshKeys, createdAtMs: r.createdAtMs };
  }

  private restoreVm(record: VmRecord): LabVm {
    const hostKeyPem = readSecureFile(join(this.vmDir(record.id), HOST_KEY_FILE));
    return { record, authorized: parseAuthorizedKeys(record.sshKeys), hostKeyPem, hostPublicKeySsh: hostPublicKeySshOf(hostKeyPem) };
  }

  /** Address on the interface, then the SSH server on it; each step is a no-op when already done. */
  private async bringUp(vm: LabVm): Promise<void> {
    await addInterfaceAddress(this.interfaceName, vm.record.myceliumIp);
    if (!vm.endpoint) vm.endpoint = await this.listen(vm);
  }

  /** Server closed, sessions ended, address removed; each step is a no-op when already done. */
  private async takeDown(vm: LabVm): Promise<void> {
    await this.stopEndpoint(vm);
    await removeInterfaceAddress(this.interfaceName, vm.record.myceliumIp);
  }

  private async listen(vm: LabVm): Promise<Endpoint> {
    const endpoint: Endpoint = { server: createServer(), sockets: new Map(), connections: new Set() };
    const ssh = new ssh2.Server({ hostKeys: [vm.hostKeyPem] }, (conn, info) => {
      const socket = endpoint.sockets.get(socketKey(info.ip, info.port));
      if (!socket) {
        conn.end();
        return;
      }
      this.serveConnection(vm, endpoint, conn, socket);
    });
    // Our own listener hands sockets to ssh2, so pause can destroy sockets that will not close.
    endpoint.server.maxConnections = MAX_CONNECTIONS_PER_VM;
    endpoint.server.on('connection', (socket) => {
      const key = socketKey(socket.remoteAddress, socket.remotePort);
      socket.on('error', () => undefined);
      socket.once('close', () => endpoint.sockets.delete(key));
      endpoint.sockets.set(key, socket);
      ssh.injectSocket(socket);
    });
    await new Promise<void>((resolve, reject) => {
      endpoint.server.once('error', reject);
      endpoint.server.listen({ host: vm.record.myceliumIp, port: this.sshPort }, () => {
        endpoint.server.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw new VmDriverError('failed', `cannot listen on [${vm.record.myceliumIp}]:${this.sshPort}: ${(err as Error).message}`, { cause: err });
    });
    endpoint.server.on('error', () => undefined);
    return endpoint;
  }

  /** Closes the VM's listener, ends its connections and their processes, and waits until they are gone. */
  private async stopEndpoint(vm: LabVm): Promise<void> {
    const endpoint = vm.endpoint;
    if (!endpoint) return;
    vm.endpoint = undefined;
    const closed = new Promise<void>((resolve) => endpoint.server.close(() => resolve()));
    const hangUps = [...endpoint.connections].flatMap((live) => [...live.children].map(hangUp));
    for (const live of endpoint.connections) live.conn.end();
    const timer = setTimeout(() => {
      for (const socket of endpoint.sockets.values()) socket.destroy();
    }, END_GRACE_MS);
    await closed;
    clearTimeout(timer);
    await Promise.all(hangUps);
  }

  private serveConnection(vm: LabVm, endpoint: Endpoint, conn: Connection, socket: Socket): void {
    const live: LiveConnection = { conn, socket, children: new Set() };
    endpoint.connections.add(live);
    // A client resetting mid-session is routine; an unheard 'error' would crash the agent.
    conn.on('error', () => undefined);
    const loginTimer = setTimeout(() => endConnection(live), LOGIN_GRACE_MS).unref();
    conn.on('close', () => {
      clearTimeout(loginTimer);
      endpoint.connections.delete(live);
      for (const child of live.children) void hangUp(child);
    });
    let failures = 0;
    conn.on('authentication', (ctx: AuthContext) => {
      const key = checkLogin(vm.authorized, ctx);
      if (!key) {
        // "none" is how every client starts: answering it with the methods left is not a failure.
        if (ctx.method !== 'none' && ++failures >= MAX_AUTH_TRIES) {
          endConnection(live);
          return;
        }
        ctx.reject(['publickey']);
        return;
      }
      if (ctx.method === 'publickey' && ctx.signature !== undefined) live.keyBlob = key.blob;
      ctx.accept();
    });
    conn.on('ready', () => {
      clearTimeout(loginTimer);
      conn.on('session', (accept) => serveSession(join(this.vmDir(vm.record.id), 'home'), live, accept()));
    });
  }
}

/** The key that may log in with `ctx`, or undefined: user root, publickey only, type + blob match, and a valid signature once sent. */
function checkLogin(authorized: readonly AuthorizedKey[], ctx: AuthContext): AuthorizedKey | undefined {
  if (ctx.method !== 'publickey' || ctx.username !== 'root') return undefined;
  const key = authorized.find((k) => k.type === ctx.key.algo && sameBytes(k.blob, ctx.key.data));
  if (!key) return undefined;
  // Without a signature the client only asks whether this key would do (RFC 4252 section 7).
  if (ctx.signature === undefined) return key;
  if (ctx.blob === undefined || key.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return undefined;
  return key;
}

function serveSession(home: string, live: LiveConnection, session: Session | undefined): void {
  if (!session) return;
  let pty: PseudoTtyInfo | undefined;
  let child: ChildProcess | undefined;
  const env: Record<string, string> = {};
  session.on('error', () => undefined);
  // No real pty: accept the request and emulate a terminal's cooked mode, so interactive ssh works.
  session.on('pty', (accept: (() => void) | undefined, _reject: unknown, info: PseudoTtyInfo) => {
    pty = info;
    accept?.();
  });
  session.on('window-change', (accept: (() => void) | undefined) => accept?.());
  session.on('env', (accept: (() => void) | undefined, reject: (() => void) | undefined, info: { key: string; val: string }) => {
    if (ACCEPTED_ENV.test(info.key) && info.val.length <= 256 && !info.val.includes('\0')) {
      env[info.key] = info.val;
      accept?.();
    } else {
      reject?.();
    }
  });
  session.on('signal', (accept: (() => void) | undefined, reject: (() => void) | undefined, info: { name: string }) => {
    const name = info.name.toUpperCase().replace(/^SIG/, '');
    if (!child || !FORWARDED_SIGNALS.has(name)) {
      reject?.();
      return;
    }
    signalGroup(child, `SIG${name}` as NodeJS.Signals);
    accept?.();
  });
  session.on('exec', (accept: () => ServerChannel | undefined, _reject: unknown, info: { command: string }) => {
    const channel = accept();
    if (channel) child = runShell(home, live, channel, ['-c', info.command], pty, env);
  });
  session.on('shell', (accept: () => ServerChannel | undefined) => {
    const channel = accept();
    if (channel) child = runShell(home, live, channel, pty ? ['-i', '+m'] : [], pty, env);
  });
}

/** Runs /bin/sh ARGS in the VM's home for one channel: streams in and out, then sends the exit status. */
function runShell(
  home: string,
  live: LiveConnection,
  channel: ServerChannel,
  args: string[],
  pty: PseudoTtyInfo | undefined,
  clientEnv: Readonly<Record<string, string>>,
): ChildProcess | undefined {
  channel.on('error', () => undefined);
  const term = pty && TERM_PATTERN.test(pty.term) ? pty.term : 'dumb';
  // A fresh environment: the agent's own variables may hold secrets.
  const env = { ...clientEnv, HOME: home, PATH: SESSION_PATH, USER: 'root', LOGNAME: 'root', SHELL: '/bin/sh', ...(pty ? { TERM: term } : {}) };
  let child: ChildProcess;
  try {
    // Its own process group (detached), so hang-up and signals reach everything it started.
    child = spawn('/bin/sh', args, { cwd: home, env, detached: true, stdio: 'pipe' });
  } catch {
    channel.stderr.write('labvm: cannot run that command\r\n');
    channel.exit(127);
    channel.end();
    return undefined;
  }
  const { stdin, stdout, stderr } = child as ChildProcess & { stdin: Writable; stdout: Readable; stderr: Readable };
  live.children.add(child);
  stdin.on('error', () => undefined);
  if (pty) {
    const discipline = new LineDiscipline(
      (echo) => channel.write(echo),
      (line) => stdin.write(line),
      () => signalGroup(child, 'SIGINT'),
      () => stdin.end(),
    );
    channel.on('data', (chunk: Buffer) => discipline.feed(chunk));
    channel.on('end', () => stdin.end());
  } else {
    channel.pipe(stdin);
  }
  forward(stdout, channel, pty !== undefined);
  forward(stderr, pty ? channel : channel.stderr, pty !== undefined);
  channel.on('close', () => void hangUp(child));

  let finished = false;
  const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
    if (finished) return;
    finished = true;
    live.children.delete(child);
    const send = (): void => {
      if (code !== null) channel.exit(code);
      else sendExitSignal(channel, signal ?? 'SIGKILL');
      channel.end();
    };
    if (channel.stderr.writableLength > 0) channel.stderr.once('drain', send);
    else send();
  };
  child.on('error', () => {
    channel.stderr.write('labvm: cannot start /bin/sh\r\n');
    finish(127, null);
  });
  child.on('close', finish);
  return child;
}

function sendExitSignal(channel: ServerChannel, signal: NodeJS.Signals): void {
  try {
    channel.exit(signal, false, '');
  } catch {
    // ssh2 knows only RFC 4254's signal names; report others as a shell would.
    channel.exit(128 + (osConstants.signals[signal] ?? 0));
  }
}

/** Copies `source` into `sink` with backpressure; `crlf` turns "\n" into "\r\n" as a terminal would. */
function forward(source: Readable, sink: Writable, crlf: boolean): void {
  source.on('data', (chunk: Buffer) => {
    if (!sink.write(crlf ? toCrlf(chunk) : chunk) && !source.isPaused()) {
      source.pause();
      sink.once('drain', () => source.resume());
    }
  });
}

/** Output post-processing of a terminal (ONLCR): bare "\n" becomes "\r\n". */
export function toCrlf(chunk: Buffer): Buffer {
  return Buffer.from(chunk.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/**
 * A small stand-in for a terminal's cooked mode, because a lab VM has no real pty: echoes what is
 * typed, edits the line (backspace, ^U), sends it on Enter, turns ^C into SIGINT and ^D on an
 * empty line into end-of-file, and drops cursor-key escape sequences.
 */
export class LineDiscipline {
  private line: number[] = [];
  /** 0: plain input; 1: after ESC; 2: inside an escape sequence, until its final byte. */
  private escape = 0;

  constructor(
    private readonly echo: (bytes: Buffer) => void,
    private readonly deliver: (line: Buffer) => void,
    private readonly interrupt: () => void,
    private readonly endOfFile: () => void,
  ) {}

  /** Handles bytes typed by the client, in order. */
  feed(chunk: Uint8Array): void {
    for (const byte of chunk) this.byte(byte);
  }

  private byte(byte: number): void {
    if (this.escape === 1) {
      this.escape = byte === 0x5b || byte === 0x4f ? 2 : 0;
      return;
    }
    if (this.escape === 2) {
      if (byte >= 0x40 && byte <= 0x7e) this.escape = 0;
      return;
    }
    switch (byte) {
      case 0x0d:
      case 0x0a:
        this.echo(Buffer.from('\r\n'));
        this.line.push(0x0a);
        this.flush();
        return;
      case 0x7f:
      case 0x08:
        if (this.line.length > 0) {
          // Drop a whole UTF-8 character: its continuation bytes, then its first byte.
          while (this.line.length > 0 && ((this.line[this.line.length - 1] as number) & 0xc0) === 0x80) this.line.pop();
          this.line.pop();
          this.echo(Buffer.from('\b \b'));
        }
        return;
      case 0x15:
        this.echo(Buffer.from('\b \b'.repeat(this.line.length)));
        this.line = [];
        return;
      case 0x03:
        this.echo(Buffer.from('^C\r\n'));
        this.line = [];
        this.interrupt();
        return;
      case 0x04:
        if (this.line.length === 0) this.endOfFile();
        else this.flush();
        return;
      case 0x1b:
        this.escape = 1;
        return;
      default:
        if (byte < 0x20 && byte !== 0x09) return;
        this.line.push(byte);
        this.echo(Buffer.from([byte]));
    }
  }

  private flush(): void {
    this.deliver(Buffer.from(this.line));
    this.line = [];
  }
}

/** Says goodbye to a client, and destroys its socket if it does not leave. */
function endConnection(live: LiveConnection): void {
  live.conn.end();
  setTimeout(() => live.socket.destroy(), END_GRACE_MS).unref();
  for (const child of live.children) void hangUp(child);
}

/** SIGHUP to a session's process group, SIGKILL after a grace period; resolves once its shell has exited. */
function hangUp(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signalGroup(child, 'SIGKILL');
      resolve();
    }, HANGUP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    signalGroup(child, 'SIGHUP');
  });
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

function socketKey(address: string | undefined, port: number | undefined): string {
  return `${address ?? ''}|${port ?? 0}`;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function invalid(message: string): VmDriverError {
  return new VmDriverError('invalid_request', message);
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw invalid('id must be 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit');
  }
  return id;
}

function checkSeedHex(seedHex: unknown): string {
  if (typeof seedHex !== 'string' || !SEED_HEX_PATTERN.test(seedHex)) throw invalid('seedHex must be 12 hex digits (6 bytes)');
  return seedHex.toLowerCase();
}

/**
 * Parses OpenSSH public key lines ("ssh-ed25519 AAAA… comment") into what login compares.
 * Messages name the index, never the key text: a private key pasted by mistake must not reach a log.
 */
function parseAuthorizedKeys(sshKeys: unknown): AuthorizedKey[] {
  if (!Array.isArray(sshKeys)) throw invalid('sshKeys must be an array of OpenSSH public key lines');
  if (sshKeys.length > MAX_SSH_KEYS) throw invalid(`sshKeys has ${sshKeys.length} keys; at most ${MAX_SSH_KEYS}`);
  return sshKeys.map((line: unknown, i) => {
    if (typeof line !== 'string' || line.length > MAX_SSH_KEY_CHARS || /[\r\n\0]/.test(line.trim())) {
      throw invalid(`sshKeys[${i}] must be one OpenSSH public key line ("ssh-ed25519 AAAA… comment")`);
    }
    const key = parseOneKey(line.trim());
    if (key === undefined) {
      throw invalid(`sshKeys[${i}] is not an OpenSSH public key line ("ssh-ed25519 AAAA… comment")`);
    }
    if (key.isPrivateKey()) throw invalid(`sshKeys[${i}] is a private key: send the .pub line instead, and treat that private key as leaked`);
    return { type: key.type, blob: key.getPublicSSH(), key };
  });
}

/** ssh2's parseKey, whose typings omit that an OpenSSH private key file parses to an array of keys. */
function parseOneKey(data: string | Buffer): ParsedKey | undefined {
  const parsed = ssh2.utils.parseKey(data) as ParsedKey | ParsedKey[] | Error;
  if (parsed instanceof Error) return undefined;
  if (Array.isArray(parsed)) return parsed.length === 1 ? parsed[0] : undefined;
  return parsed;
}

function hostPublicKeySshOf(hostKeyPem: Buffer): string {
  const key = parseOneKey(hostKeyPem);
  if (key === undefined) throw new VmDriverError('failed', 'a VM host key file is unreadable; destroy and redeploy the VM');
  return `${key.type} ${key.getPublicSSH().toString('base64')}`;
}

function infoOf(vm: LabVm): VmInfo {
  return { id: vm.record.id, myceliumIp: vm.record.myceliumIp, state: vm.record.state, hostPublicKeySsh: vm.hostPublicKeySsh };
}

function wrapError(op: string, err: unknown): VmDriverError {
  const prefix = `labvm.${op}: `;
  if (err instanceof VmDriverError) return new VmDriverError(err.code, prefix + err.message, { cause: err });
  return new VmDriverError('failed', prefix + (err instanceof Error ? err.message : String(err)), { cause: err });
}

/** Runs `ip ARGS…`; the error carries what ip printed (addresses and interface names, no secrets). */
async function runIp(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('ip', args, { timeout: 10_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; code?: string; message: string };
    if (e.code === 'ENOENT') throw new Error('the `ip` command is missing: install iproute2');
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** The IPv6 addresses on an interface of the current network namespace, normalised. */
export async function listInterfaceAddresses(interfaceName: string): Promise<string[]> {
  const out = await runIp(['-j', '-6', 'addr', 'show', 'dev', interfaceName]);
  const links = JSON.parse(out || '[]') as { addr_info?: { local?: string }[] }[];
  return links.flatMap((link) => (link.addr_info ?? []).flatMap((a) => (typeof a.local === 'string' ? [normaliseIpv6(a.local)] : [])));
}

/**
 * Adds `address`/128 to an interface of the current namespace without duplicate address detection
 * (usable at once); an address already there is fine. Unlike the lab's `addAddress`, it does not
 * enter a namespace: the agent already runs inside the node's.
 */
export async function addInterfaceAddress(interfaceName: string, address: string): Promise<void> {
  const wanted = normaliseIpv6(address);
  if ((await listInterfaceAddresses(interfaceName)).includes(wanted)) return;
  await runIp(['-6', 'addr', 'add', `${wanted}/128`, 'dev', interfaceName, 'nodad']);
}

/** Removes `address`/128 from an interface of the current namespace; an absent address is fine. */
export async function removeInterfaceAddress(interfaceName: string, address: string): Promise<void> {
  const wanted = normaliseIpv6(address);
  if (!(await listInterfaceAddresses(interfaceName)).includes(wanted)) return;
  await runIp(['-6', 'addr', 'del', `${wanted}/128`, 'dev', interfaceName]);
}
