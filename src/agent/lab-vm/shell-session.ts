// One SSH session on a lab VM: /bin/sh as the VM's own unprivileged user, its streams, signals and exit status.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import { LineDiscipline, toCrlf } from './line-discipline.js';
import type { VmUser } from './vm-user.js';

/** How long a session's processes get after SIGHUP (what sshd sends on hang-up) before SIGKILL. */
const HANGUP_GRACE_MS = 2_000;
/** Client `env` requests honoured, as sshd's usual AcceptEnv. */
const ACCEPTED_ENV = /^(LANG|LC_[A-Z]+|TZ)$/;
const TERM_PATTERN = /^[A-Za-z0-9._+-]{1,64}$/;
const SESSION_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Signals a client may send (RFC 4254 section 6.10 names, without "SIG"). */
const FORWARDED_SIGNALS = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);

/** Where and as whom a VM's sessions run, and the set that tracks their shells for hang-up. */
export interface SessionContext {
  readonly home: string;
  readonly user: VmUser;
  readonly children: Set<ChildProcess>;
}

/** Serves one accepted session channel request: pty, env and signal requests, then exec or shell. */
export function serveSession(context: SessionContext, session: Session | undefined): void {
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
    if (channel) child = runShell(context, channel, ['-c', info.command], pty, env);
  });
  session.on('shell', (accept: () => ServerChannel | undefined) => {
    const channel = accept();
    if (channel) child = runShell(context, channel, pty ? ['-i', '+m'] : [], pty, env);
  });
}

/** Runs /bin/sh ARGS as the VM user in its home for one channel: streams in and out, then sends the exit status. */
function runShell(
  context: SessionContext,
  channel: ServerChannel,
  args: string[],
  pty: PseudoTtyInfo | undefined,
  clientEnv: Readonly<Record<string, string>>,
): ChildProcess | undefined {
  channel.on('error', () => undefined);
  const { home, user } = context;
  const term = pty && TERM_PATTERN.test(pty.term) ? pty.term : 'dumb';
  // A fresh environment: the agent's own variables may hold secrets.
  const env = { ...clientEnv, HOME: home, PATH: SESSION_PATH, USER: user.name, LOGNAME: user.name, SHELL: '/bin/sh', ...(pty ? { TERM: term } : {}) };
  let child: ChildProcess;
  try {
    // Its own process group (detached), so hang-up and signals reach everything it started; the
    // VM's own uid and gid (libuv also drops supplementary groups), so it cannot read the agent's files.
    child = spawn('/bin/sh', args, { cwd: home, env, detached: true, stdio: 'pipe', uid: user.uid, gid: user.gid });
  } catch {
    channel.stderr.write('labvm: cannot run that command\r\n');
    channel.exit(127);
    channel.end();
    return undefined;
  }
  const { stdin, stdout, stderr } = child as ChildProcess & { stdin: Writable; stdout: Readable; stderr: Readable };
  context.children.add(child);
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
    context.children.delete(child);
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

/** SIGHUP to a session's process group, SIGKILL after a grace period; resolves once its shell has exited. */
export function hangUp(child: ChildProcess): Promise<void> {
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
