// Test fixture for what must run inside a lab namespace: a LabVmDriver driven by JSON lines, and an ssh2 client that can forge a login.
//
// Usage: node lab-vm-fixture.js STATE_DIR NODE_SUBNET
//   in:  {"n": 1, "op": "deploy", "args": [{"id": "vm-a", "sshKeys": ["ssh-ed25519 AAAA…"]}]}
//   out: {"n": 1, "ok": true, "result": {…}}  or  {"n": 1, "ok": false, "code": "not_found", "message": "…"}
// The driver starts on the "start" op; end of stdin closes it and exits.
//
// Usage: node lab-vm-fixture.js login ADDRESS PUBLIC_KEY_FILE PRIVATE_KEY_FILE
//   offers the public key but signs with the private key (the real ssh client never does that),
//   and prints "accepted" or "refused".
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import ssh2, { type ParsedKey, type PublicKeyAuthMethod } from 'ssh2';
import { errorMessage } from '../../src/identity/error-message.js';
import { LabVmDriver } from '../../src/agent/lab-vm/index.js';
import { VmDriverError } from '../../src/agent/vm-driver.js';

/** One command from the test. */
interface FixtureCommand {
  readonly n: number;
  readonly op: string;
  readonly args?: unknown[];
}

/** Logs in as root offering `publicKeyFile` and signing with `privateKeyFile`; resolves "accepted" or "refused". */
function tryLogin(address: string, publicKeyFile: string, privateKeyFile: string): Promise<string> {
  const claimed = ssh2.utils.parseKey(readFileSync(publicKeyFile)) as ParsedKey;
  const signer = ssh2.utils.parseKey(readFileSync(privateKeyFile)) as ParsedKey;
  // ssh2 takes the offered blob from getPublicSSH() and the signature from sign(): mix the two keys.
  const offered: PublicKeyAuthMethod = { type: 'publickey', username: 'root', key: Object.assign(signer, { getPublicSSH: () => claimed.getPublicSSH() }) };
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    client
      .on('ready', () => {
        client.end();
        resolve('accepted');
      })
      .on('error', (err: Error & { level?: string }) => resolve(err.level === 'client-authentication' ? 'refused' : `error: ${err.message}`))
      .connect({ host: address, port: 22, username: 'root', authHandler: [offered], hostVerifier: () => true, readyTimeout: 5_000 });
  });
}

if (process.argv[2] === 'login') {
  const [address, publicKeyFile, privateKeyFile] = process.argv.slice(3);
  if (address === undefined || publicKeyFile === undefined || privateKeyFile === undefined) {
    process.stderr.write('usage: lab-vm-fixture login ADDRESS PUBLIC_KEY_FILE PRIVATE_KEY_FILE\n');
    process.exit(2);
  }
  process.stdout.write(`${await tryLogin(address, publicKeyFile, privateKeyFile)}\n`);
  process.exit(0);
}

const [stateDir, nodeSubnet] = process.argv.slice(2);

if (stateDir === undefined || nodeSubnet === undefined) {
  // `node --test dist/test/` runs every file under test/, this one too: with no arguments it has nothing to do.
  if (process.env.NODE_TEST_CONTEXT !== undefined) process.exit(0);
  process.stderr.write('usage: lab-vm-fixture STATE_DIR NODE_SUBNET (driven by test/agent/lab-vm-driver.test.ts)\n');
  process.exit(2);
}

const driver = new LabVmDriver({ stateDir, nodeSubnet });

function answer(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function perform(command: FixtureCommand): Promise<unknown> {
  const args = command.args ?? [];
  switch (command.op) {
    case 'start':
      return driver.start();
    case 'deploy':
      return driver.deploy(args[0] as Parameters<LabVmDriver['deploy']>[0]);
    case 'pause':
      return driver.pause(args[0] as string);
    case 'resume':
      return driver.resume(args[0] as string);
    case 'destroy':
      return driver.destroy(args[0] as string);
    case 'status':
      return driver.status(args[0] as string);
    case 'setSshKeys':
      return driver.setSshKeys(args[0] as string, args[1] as string[]);
    case 'list':
      return driver.list();
    case 'close':
      return driver.close();
    default:
      throw new VmDriverError('invalid_request', `fixture: unknown op ${JSON.stringify(command.op)}`);
  }
}

const lines = createInterface({ input: process.stdin });
const inFlight = new Set<Promise<void>>();
lines.on('line', (line) => {
  let command: FixtureCommand;
  try {
    command = JSON.parse(line) as FixtureCommand;
  } catch {
    answer({ n: -1, ok: false, code: 'invalid_request', message: 'fixture: a line was not JSON' });
    return;
  }
  const done = perform(command).then(
    (result) => answer({ n: command.n, ok: true, result: result ?? null }),
    (err: unknown) => {
      const code = err instanceof VmDriverError ? err.code : 'failed';
      answer({ n: command.n, ok: false, code, message: errorMessage(err) });
    },
  );
  inFlight.add(done);
  void done.finally(() => inFlight.delete(done));
});
lines.on('close', () => {
  void Promise.allSettled([...inFlight])
    .then(() => driver.close())
    .finally(() => process.exit(0));
});
