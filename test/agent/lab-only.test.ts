// The lab VM driver outside the lab: `hypha agent` with vmDriver "lab" refuses to start, says why and what to use instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newIdentity, saveKeyFile, writeSecureFile } from '../../src/identity/index.js';
import { scratchDir } from '../helpers/paths.js';
import { hypha } from '../helpers/run.js';

const SUBNET = '5aa:1:2:3::/64';

/** An agent config that asks for the lab VM driver, as the README's old example did. */
function writeConfig(dir: string): string {
  saveKeyFile(join(dir, 'agent.key'), newIdentity(), true);
  const path = join(dir, 'agent.json');
  const config = {
    gateway: 'http://[4bb:9:8:7::2]:8480',
    keyFile: 'agent.key',
    nodes: [{ id: 'node-1', subnet: SUBNET }],
    vmDriver: { kind: 'lab', node: 'node-1' },
  };
  writeFileSync(path, JSON.stringify(config));
  return path;
}

/** The environment of a shell on a production host, without the lab's variables. */
function plainEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (extra.HYPHA_LAB_STATE === undefined) delete env.HYPHA_LAB_STATE;
  return env;
}

test('hypha agent with vmDriver "lab" outside the lab exits 2, says why, and names what to use instead', async () => {
  const scratch = scratchDir('hypha-labonly-');
  try {
    const config = writeConfig(scratch.dir);
    const r = await hypha(['agent', '--config', config], { env: plainEnv(), timeoutMs: 20_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr, /^hypha agent: config\.vmDriver: "lab" is for `hypha lab` only/);
    assert.match(r.stderr, /remove "vmDriver"/);
    assert.match(r.stderr, /HYPHA_LAB_STATE is not set/);
    assert.doesNotMatch(r.stdout + r.stderr, /agent running/);
  } finally {
    scratch.remove();
  }
});

test('a lab state file is not enough: the agent must run in a lab farmer\'s namespace with that farmer\'s /64', async () => {
  const scratch = scratchDir('hypha-labonly-');
  try {
    const config = writeConfig(scratch.dir);
    const forged = (ns: string): string => {
      const path = join(scratch.dir, `lab-${ns}.json`);
      writeSecureFile(path, JSON.stringify({ actors: [{ name: 'farmer1', role: 'farmer', ns, subnet: SUBNET }] }));
      return path;
    };
    const cases: Array<[string, RegExp]> = [
      [forged('hl-nosuchlab-farmer1'), /not in the network namespace of a farmer/],
      [join(scratch.dir, 'missing.json'), /is not a lab state file/],
    ];
    const writable = forged('hl-other-farmer1');
    chmodSync(writable, 0o666);
    cases.push([writable, /writable by nobody else/]);
    for (const [path, why] of cases) {
      const r = await hypha(['agent', '--config', config], { env: plainEnv({ HYPHA_LAB_STATE: path }), timeoutMs: 20_000 });
      assert.equal(r.code, 2, `${path}: ${r.stderr}`);
      assert.match(r.stderr, /^hypha agent: config\.vmDriver: "lab" is for `hypha lab` only/);
      assert.match(r.stderr, why);
    }
  } finally {
    scratch.remove();
  }
});
