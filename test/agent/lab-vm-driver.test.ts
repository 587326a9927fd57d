// Tests of the lab VM driver: its terminal emulation and argument checks, and, in real network namespaces, real OpenSSH logins to VMs it runs inside a farmer node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { LabVmDriver, LineDiscipline, toCrlf } from '../../src/agent/lab-vm/index.js';
import { VmDriverError, type VmInfo } from '../../src/agent/vm-driver.js';
import { newIdentity, parseIpv6, saveKeyFile } from '../../src/identity/index.js';
import { addHost, createBridge, namespaceName, nsExec, removeLab, spawnInNamespace } from '../../src/lab/netns.js';
import { LAB_SKIP, waitFor } from '../helpers/lab.js';
import { REPO_ROOT, scratchDir } from '../helpers/paths.js';
import { runCommand, type RunResult } from '../helpers/run.js';

const FIXTURE = join(REPO_ROOT, 'dist', 'test', 'agent', 'lab-vm-fixture.js');
const FARMER_ADDRESS = '5aa:1:2:3::1';
const FARMER_SUBNET = '5aa:1:2:3::/64';
const CUSTOMER_ADDRESS = '4bb:9:8:7::2';

test('LineDiscipline echoes, edits and delivers lines like a cooked terminal', () => {
  const echoed: Buffer[] = [];
  const delivered: Buffer[] = [];
  let interrupts = 0;
  let eofs = 0;
  const discipline = new LineDiscipline(
    (b) => echoed.push(b),
    (b) => delivered.push(b),
    () => interrupts++,
    () => eofs++,
  );
  discipline.feed(Buffer.from('ecx\x7fho h\xc3\xa9\x7fi\x1b[Ai\r', 'latin1'));
  assert.equal(Buffer.concat(delivered).toString('latin1'), 'echo hii\n', 'backspace drops a whole UTF-8 character, cursor keys are dropped');
  assert.equal(Buffer.concat(echoed).toString('latin1'), 'ecx\b \bho h\xc3\xa9\b \bii\r\n');
  discipline.feed(Buffer.from('junk\x15ls\x03'));
  assert.equal(interrupts, 1);
  assert.equal(delivered.length, 1, '^U and ^C discard the line');
  discipline.feed(Buffer.from('\x04'));
  assert.equal(eofs, 1, '^D on an empty line is end-of-file');
  discipline.feed(Buffer.from('part\x04'));
  assert.equal(eofs, 1);
  assert.equal(delivered.at(-1)?.toString(), 'part', '^D on a non-empty line sends it without a newline');
});

test('toCrlf turns bare newlines into CRLF and leaves CRLF alone', () => {
  const table: [string, string][] = [
    ['', ''],
    ['a\n', 'a\r\n'],
    ['a\r\nb\nc', 'a\r\nb\r\nc'],
    ['\n\n', '\r\n\r\n'],
  ];
  for (const [input, want] of table) assert.equal(toCrlf(Buffer.from(input)).toString(), want, JSON.stringify(input));
});

test('LabVmDriver refuses bad options and work before start, naming the problem', async () => {
  const scratch = scratchDir('hypha-labvm-');
  try {
    const bad: [Partial<ConstructorParameters<typeof LabVmDriver>[0]>, RegExp][] = [
      [{ nodeSubnet: '5aa:1:2:3::/48' }, /nodeSubnet/],
      [{ nodeSubnet: '2001:db8::/64' }, /outside 400::\/7/],
      [{ nodeSubnet: FARMER_SUBNET, sshPort: 0 }, /sshPort/],
      [{ nodeSubnet: FARMER_SUBNET, interfaceName: 'a b' }, /interfaceName/],
    ];
    for (const [options, message] of bad) {
      assert.throws(
        () => new LabVmDriver({ stateDir: scratch.dir, nodeSubnet: '', ...options }),
        (err: unknown) => err instanceof VmDriverError && err.code === 'invalid_request' && message.test(err.message),
      );
    }
    const driver = new LabVmDriver({ stateDir: scratch.dir, nodeSubnet: FARMER_SUBNET });
    await assert.rejects(driver.deploy({ id: 'vm-a', sshKeys: [] }), { code: 'not_started', message: /^labvm\.deploy: .*start\(\)/ });
    await assert.rejects(driver.list(), { code: 'not_started' });
  } finally {
    scratch.remove();
  }
});

test('LabVmDriver checks ids, keys and seeds without echoing key text', async () => {
  const scratch = scratchDir('hypha-labvm-');
  const driver = new LabVmDriver({ stateDir: scratch.dir, nodeSubnet: FARMER_SUBNET });
  try {
    await driver.start();
    const secretish = 'not-a-key-but-could-be-a-secret';
    await assert.rejects(driver.deploy({ id: '../etc', sshKeys: [] }), { code: 'invalid_request', message: /^labvm\.deploy: id must be/ });
    await assert.rejects(driver.deploy({ id: 'vm-a', sshKeys: [secretish] }), (err: unknown) => {
      assert.ok(err instanceof VmDriverError);
      assert.equal(err.code, 'invalid_request');
      assert.match(err.message, /sshKeys\[0\]/);
      assert.ok(!err.message.includes(secretish), 'the message must not repeat the key text');
      return true;
    });
    await assert.rejects(driver.deploy({ id: 'vm-a', sshKeys: [], seedHex: 'abc' }), { code: 'invalid_request', message: /seedHex/ });
    await assert.rejects(driver.pause('nope'), { code: 'not_found', message: /^labvm\.pause: no VM nope/ });
    assert.equal(await driver.status('nope'), 'gone');
    await driver.destroy('nope');
    assert.deepEqual(await driver.list(), []);
  } finally {
    await driver.close();
    scratch.remove();
  }
});

/** A LabVmDriver running in a namespace, in the fixture process, called over its stdin/stdout. */
class FixtureDriver {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private next = 1;
  private stderr = '';
  readonly exited: Promise<number | null>;

  constructor(ns: string, stateDir: string) {
    this.child = spawnInNamespace(ns, process.execPath, [FIXTURE, stateDir, FARMER_SUBNET], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const reply = JSON.parse(line) as { n: number; ok: boolean; result?: unknown; code?: string; message?: string };
      const waiter = this.pending.get(reply.n);
      if (!waiter) return;
      this.pending.delete(reply.n);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(Object.assign(new Error(reply.message), { code: reply.code }));
    });
    void this.exited.then(() => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`fixture exited: ${this.stderr}`));
      this.pending.clear();
    });
  }

  call<T>(op: string, ...args: unknown[]): Promise<T> {
    const n = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(n, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin?.write(`${JSON.stringify({ n, op, args })}\n`);
    });
  }

  /** Ends stdin (the fixture closes its driver and exits); kills it if it does not. */
  async stop(): Promise<number | null> {
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

test('lab VMs are real SSH endpoints on their own Mycelium addresses', { skip: LAB_SKIP }, async (t) => {
  const lab = `vm${process.pid % 1000}`;
  const farmerNs = namespaceName(lab, 'farmer');
  const customerNs = namespaceName(lab, 'cust');
  const scratch = scratchDir('hypha-labvm-');
  // As the lab does: VM users may pass through the folder to their homes, but list nothing in it.
  chmodSync(scratch.dir, 0o711);
  const stateDir = join(scratch.dir, 'state');
  /** The farmer's Unyt key, beside the VM state as in the lab (mode 0600, root's). */
  const farmerKey = join(scratch.dir, 'farmer.key');
  saveKeyFile(farmerKey, newIdentity(), true);
  const fixtures: FixtureDriver[] = [];
  const background: ChildProcess[] = [];
  t.after(async () => {
    for (const child of background) child.kill('SIGKILL');
    await Promise.all(fixtures.map((f) => f.stop()));
    await removeLab(lab);
    scratch.remove();
  });

  await removeLab(lab);
  await createBridge(lab);
  await addHost(lab, 'farmer', 1, FARMER_ADDRESS);
  await addHost(lab, 'cust', 2, CUSTOMER_ADDRESS);

  /** A customer key pair made by the real ssh-keygen. */
  async function makeKey(name: string): Promise<{ file: string; pub: string }> {
    const file = join(scratch.dir, `id_${name}`);
    const made = await runCommand('ssh-keygen', ['-t', 'ed25519', '-N', '', '-q', '-C', `customer-${name}@lab`, '-f', file]);
    assert.equal(made.code, 0, made.stderr);
    return { file, pub: readFileSync(`${file}.pub`, 'utf8').trim() };
  }
  const keys = { a: await makeKey('a'), b: await makeKey('b'), c: await makeKey('c') };
  const knownHosts = join(scratch.dir, 'known_hosts');

  function sshArgs(keyFile: string, address: string, extra: string[]): string[] {
    return ['netns', 'exec', customerNs, 'ssh', '-F', '/dev/null', '-i', keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', ...extra, `root@${address}`];
  }
  const trustOnFirstUse = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5'];
  /** For connections expected to fail: nobody answers a withdrawn address, so do not wait long. */
  const expectFailure = { extra: ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=2'] };
  /** Only the host key recorded at the first login is accepted. */
  const pinnedHostKey = { extra: ['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'ConnectTimeout=5'] };
  /** Runs a command as root on a VM from the customer's namespace with the real ssh client. */
  function ssh(keyFile: string, address: string, command: string, options: { extra?: string[]; input?: string } = {}): Promise<RunResult> {
    return runCommand('ip', [...sshArgs(keyFile, address, options.extra ?? trustOnFirstUse), command], { input: options.input ?? '', timeoutMs: 20_000 });
  }
  /** An ssh session left open: resolves `started` once the remote command printed "started". */
  function openSession(keyFile: string, address: string): { started: Promise<void>; exited: Promise<number | null> } {
    const child = spawn('ip', [...sshArgs(keyFile, address, trustOnFirstUse), 'echo started; sleep 30; echo slept'], { stdio: ['pipe', 'pipe', 'pipe'] });
    background.push(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const started = new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('started') && resolve());
      void exited.then((code) => reject(new Error(`ssh exited ${String(code)} before the session started`)));
    });
    return { started, exited };
  }
  /**
   * Waits for `p`, failing only if it never settles (a hang guard of a minute, not a timing assertion: a loaded
   * machine may take seconds to open or end a session; the sessions under test run `sleep 30`, so an end that
   * was not caused by the driver still fails the checks on the exit code).
   */
  async function settled<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} never happened (waited ${ms} ms)`)), ms)));
    try {
      return await Promise.race([p, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
  async function farmerAddresses(): Promise<string> {
    return nsExec(farmerNs, 'ip', '-6', 'addr', 'show', 'dev', 'mycelium');
  }
  function assertRefused(result: RunResult, why: string): void {
    assert.equal(result.code, 255, `${why}: ssh should fail, got ${result.code}: ${result.stdout}${result.stderr}`);
    assert.ok(!result.stdout.includes('hello'), why);
  }

  let driver = new FixtureDriver(farmerNs, stateDir);
  fixtures.push(driver);
  await driver.call('start');

  const vm = await driver.call<VmInfo>('deploy', { id: 'vm-a', sshKeys: [keys.a.pub] });

  await t.test('deploy puts the VM on prefix + ff0f + seed inside the farmer /64', async () => {
    assert.equal(vm.state, 'running');
    const bytes = parseIpv6(vm.myceliumIp);
    assert.deepEqual([...bytes.subarray(0, 8)], [...parseIpv6(FARMER_ADDRESS).subarray(0, 8)], 'same /64 as the farmer');
    assert.equal(vm.myceliumIp.split(':')[4], 'ff0f');
    assert.match(await farmerAddresses(), new RegExp(`inet6 ${vm.myceliumIp}/128`));
    const again = await driver.call<VmInfo>('deploy', { id: 'vm-a', sshKeys: [keys.b.pub] });
    assert.deepEqual(again, vm, 'deploying an existing id returns it unchanged');
    const fixed = await driver.call<VmInfo>('deploy', { id: 'vm-seeded', sshKeys: [], seedHex: '0102030405AB' });
    assert.equal(fixed.myceliumIp, '5aa:1:2:3:ff0f:102:304:5ab');
    await assert.rejects(driver.call('deploy', { id: 'vm-other', sshKeys: [], seedHex: '0102030405ab' }), { code: 'conflict' });
    await driver.call('destroy', 'vm-seeded');
    assert.equal(statSync(join(stateDir, 'lab-vms.json')).mode & 0o777, 0o600);
    assert.equal(statSync(join(stateDir, 'vms', 'vm-a', 'ssh_host_ed25519_key')).mode & 0o777, 0o600);
  });

  await t.test('the customer key runs commands with their output and exit code; another key is refused', async () => {
    const first = await ssh(keys.a.file, vm.myceliumIp, 'echo hello; pwd; echo "$HOME"; cd / && cd && pwd', {
      extra: ['-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'ConnectTimeout=5'],
    });
    assert.equal(first.code, 0, first.stderr);
    const home = join(stateDir, 'vms', 'vm-a', 'home');
    assert.equal(first.stdout, `hello\n${home}\n${home}\n${home}\n`, 'the VM user can reach its home by path');
    assert.ok(readFileSync(knownHosts, 'utf8').includes(vm.hostPublicKeySsh ?? '-'), 'ssh saw the host key the driver reports');

    const failing = await ssh(keys.a.file, vm.myceliumIp, 'echo out; echo err >&2; exit 3');
    assert.equal(failing.code, 3);
    assert.equal(failing.stdout, 'out\n');
    assert.match(failing.stderr, /^err$/m);

    const stranger = await ssh(keys.b.file, vm.myceliumIp, 'echo hello');
    assertRefused(stranger, 'key b is not authorized');
    assert.match(stranger.stderr, /Permission denied \(publickey\)/);
  });

  await t.test("a VM's shell runs as its own unprivileged user: it owns its home and cannot read the agent's files", async () => {
    const who = await ssh(keys.a.file, vm.myceliumIp, 'id -u; id -g; id -G; echo kept > file && stat -c %u:%a . file && cat file');
    assert.equal(who.code, 0, who.stderr);
    const [uid, gid, groups, homeOwner, fileOwner, kept] = who.stdout.trim().split('\n');
    assert.notEqual(uid, '0', 'not root');
    assert.ok(Number(uid) >= 0x7000_0000, `uid ${uid} is in the lab VM range`);
    assert.equal(gid, uid);
    assert.equal(groups, uid, 'no supplementary groups');
    assert.equal(homeOwner, `${uid}:700`);
    assert.equal(fileOwner?.split(':')[0], uid);
    assert.equal(kept, 'kept');

    const key = await ssh(keys.a.file, vm.myceliumIp, `cat ${farmerKey}`);
    assert.notEqual(key.code, 0);
    assert.match(key.stderr, /Permission denied/);
    assert.equal(key.stdout, '', 'nothing of the key is printed');
    for (const secret of [join(stateDir, 'lab-vms.json'), join(stateDir, 'vms', 'vm-a', 'ssh_host_ed25519_key')]) {
      const r = await ssh(keys.a.file, vm.myceliumIp, `cat ${secret}`);
      assert.match(r.stderr, /Permission denied/, secret);
    }
    const listing = await ssh(keys.a.file, vm.myceliumIp, `ls ${scratch.dir}`);
    assert.match(listing.stderr, /Permission denied/, 'folders on the way can be passed, not listed');
  });

  await t.test('a process that left its session group ends when the VM is paused', async () => {
    const started = await ssh(keys.a.file, vm.myceliumIp, 'setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!');
    assert.equal(started.code, 0, started.stderr);
    const pid = Number(started.stdout.trim());
    assert.ok(pid > 0);
    /** Whether `pid` is a live process (a zombie awaiting its reaper is not). */
    const running = (): boolean => {
      try {
        return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
      } catch {
        return false;
      }
    };
    assert.equal(running(), true, 'the escaped process runs after the session ended');
    await driver.call('pause', 'vm-a');
    // pause SIGKILLs every process of the VM user; the kernel ends a killed process when it next runs, which on a
    // loaded machine is not always before pause returns. Nothing else kills it: it was started to sleep 600 s.
    await waitFor('pause to have ended it', () => (running() ? undefined : true), 60_000, 20);
    await driver.call('resume', 'vm-a');
  });

  await t.test('offering an authorized key with a signature by another key is refused', async () => {
    const login = (pub: string, priv: string): Promise<RunResult> =>
      runCommand('ip', ['netns', 'exec', customerNs, process.execPath, FIXTURE, 'login', vm.myceliumIp, pub, priv], { timeoutMs: 20_000 });
    const honest = await login(`${keys.a.file}.pub`, keys.a.file);
    assert.equal(honest.stdout, 'accepted\n', `the ssh2 client logs in with the authorized key: ${honest.stderr}`);
    const forged = await login(`${keys.a.file}.pub`, keys.b.file);
    assert.equal(forged.stdout, 'refused\n', forged.stderr);
  });

  await t.test('a shell request runs /bin/sh, with or without a pty', async () => {
    const plain = await runCommand('ip', sshArgs(keys.a.file, vm.myceliumIp, [...trustOnFirstUse, '-T']), { input: 'echo shell-$((6*7))\nexit 4\n', timeoutMs: 20_000 });
    assert.equal(plain.code, 4, plain.stderr);
    assert.equal(plain.stdout, 'shell-42\n');
    const tty = await runCommand('ip', sshArgs(keys.a.file, vm.myceliumIp, [...trustOnFirstUse, '-tt']), { input: 'echo pty-$((6*7))\rexit 5\r', timeoutMs: 20_000 });
    assert.equal(tty.code, 5, tty.stderr);
    assert.match(tty.stdout, /echo pty-\$\(\(6\*7\)\)\r\n/, 'typed input is echoed');
    assert.match(tty.stdout, /pty-42\r\n/, 'the line ran, output in CRLF');
  });

  await t.test('setSshKeys swaps access and ends sessions of removed keys', async () => {
    const session = openSession(keys.a.file, vm.myceliumIp);
    await settled(session.started, 'opening a session');
    await driver.call('setSshKeys', 'vm-a', [keys.b.pub]);
    const code = await settled(session.exited, 'ending the session of a removed key');
    assert.notEqual(code, 0);
    assertRefused(await ssh(keys.a.file, vm.myceliumIp, 'echo hello'), 'key a was removed');
    const b = await ssh(keys.b.file, vm.myceliumIp, 'echo hello');
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout, 'hello\n');
  });

  await t.test('pause makes the VM unreachable and ends its sessions; resume brings it back with the same host key', async () => {
    const session = openSession(keys.b.file, vm.myceliumIp);
    await settled(session.started, 'opening a session');
    const paused = await driver.call<VmInfo>('pause', 'vm-a');
    assert.equal(paused.state, 'paused');
    assert.notEqual(await settled(session.exited, 'ending sessions on pause'), 0);
    assert.equal(await driver.call('status', 'vm-a'), 'paused');
    assert.equal((await driver.call<VmInfo>('pause', 'vm-a')).state, 'paused', 'pausing again is a no-op');
    assert.doesNotMatch(await farmerAddresses(), new RegExp(vm.myceliumIp), 'the address is removed');
    assertRefused(await ssh(keys.b.file, vm.myceliumIp, 'echo hello', expectFailure), 'paused');

    const resumed = await driver.call<VmInfo>('resume', 'vm-a');
    assert.deepEqual(resumed, { ...vm, state: 'running' });
    const back = await ssh(keys.b.file, vm.myceliumIp, 'echo hello', pinnedHostKey);
    assert.equal(back.code, 0, `same host key as before the pause: ${back.stderr}`);
    assert.equal(back.stdout, 'hello\n');
  });

  await t.test('a restarted driver restores running VMs and keeps paused ones paused', async () => {
    const second = await driver.call<VmInfo>('deploy', { id: 'vm-b', sshKeys: [keys.c.pub] });
    assert.notEqual(second.myceliumIp, vm.myceliumIp);
    const c = await ssh(keys.c.file, second.myceliumIp, 'echo hello');
    assert.equal(c.code, 0, c.stderr);
    await driver.call('pause', 'vm-b');

    assert.equal(await driver.stop(), 0);
    assert.match(await farmerAddresses(), new RegExp(`inet6 ${vm.myceliumIp}/128`), 'close leaves the address for the next start');
    assertRefused(await ssh(keys.b.file, vm.myceliumIp, 'echo hello'), 'no server while the agent is down');

    driver = new FixtureDriver(farmerNs, stateDir);
    fixtures.push(driver);
    await driver.call('start');
    const listed = await driver.call<VmInfo[]>('list');
    assert.deepEqual(
      listed.map((v) => [v.id, v.myceliumIp, v.state]),
      [
        ['vm-a', vm.myceliumIp, 'running'],
        ['vm-b', second.myceliumIp, 'paused'],
      ],
    );
    const restored = await ssh(keys.b.file, vm.myceliumIp, 'echo hello', pinnedHostKey);
    assert.equal(restored.code, 0, `restored with the same host key and keys: ${restored.stderr}`);
    assertRefused(await ssh(keys.c.file, second.myceliumIp, 'echo hello', expectFailure), 'still paused');
  });

  await t.test('destroy makes the VM gone for good', async () => {
    await driver.call('destroy', 'vm-a');
    assert.equal(await driver.call('status', 'vm-a'), 'gone');
    assert.doesNotMatch(await farmerAddresses(), new RegExp(vm.myceliumIp));
    assert.equal(existsSync(join(stateDir, 'vms', 'vm-a')), false, 'its files are deleted');
    assertRefused(await ssh(keys.b.file, vm.myceliumIp, 'echo hello', expectFailure), 'destroyed');
    await assert.rejects(driver.call('resume', 'vm-a'), { code: 'not_found' });
    assert.deepEqual((await driver.call<VmInfo[]>('list')).map((v) => v.id), ['vm-b']);
    await driver.call('destroy', 'vm-b');
  });
});
