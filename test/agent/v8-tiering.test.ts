// optimiseFromNowOn: in a process started without TurboFan (as bin/hypha.js starts `hypha agent`), a hot function is optimised only after it is called.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';

const TIERING = pathToFileURL(join(REPO_ROOT, 'dist', 'src', 'agent', 'v8-tiering.js')).href;

/** Runs a hot loop in `node --no-turbofan --trace-opt`, after calling optimiseFromNowOn when `turnOn`; V8's lines about the loop's function. */
function traceOf(turnOn: boolean): { lines: string[]; first?: boolean; second?: boolean } {
  const script = `
    import { optimiseFromNowOn } from ${JSON.stringify(TIERING)};
    const first = ${turnOn} ? optimiseFromNowOn() : undefined;
    const second = ${turnOn} ? optimiseFromNowOn() : undefined;
    function hotProbe(n) { let s = 0; for (let i = 0; i < n; i++) s = (s + i * 7) % 1000003; return s; }
    let s = 0;
    for (let i = 0; i < 3000; i++) s += hotProbe(1000);
    console.log(JSON.stringify({ first, second, s }));
  `;
  const r = spawnSync(process.execPath, ['--no-turbofan', '--no-maglev', '--trace-opt', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.split('\n');
  const answer = JSON.parse(out.filter((l) => l.startsWith('{')).at(-1) ?? '{}') as { first?: boolean; second?: boolean };
  return { lines: out.filter((l) => l.includes('hotProbe') && /TURBOFAN|optimiz/i.test(l)), ...answer };
}

test('without TurboFan a hot function stays unoptimised; after optimiseFromNowOn (true once, then false) V8 optimises it', () => {
  assert.deepEqual(traceOf(false).lines, [], 'the control: started without TurboFan, nothing is optimised');
  const on = traceOf(true);
  assert.equal(on.first, true);
  assert.equal(on.second, false, 'only the first call turns it on');
  assert.ok(on.lines.length > 0, 'the hot function was optimised once TurboFan was on again');
});
