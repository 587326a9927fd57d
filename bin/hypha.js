#!/usr/bin/env node
// The `hypha` command: a thin launcher for the compiled CLI in dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';

// `hypha agent` runs for months doing a few milliseconds of work every 15 s, so it runs without V8's
// optimising compilers: the first function TurboFan compiles (one of Node's own module-loader helpers
// at start, the chain's BLAKE2b after a few hundred heartbeats) pages ~3.5 MiB of compiler code into
// the process for good (bench/README.md "Agent footprint"). Interpreted and baseline code is fast
// enough for its load, but checking a batch of thousands of receipts takes ~5x the CPU: the first batch of
// 1,000 or more turns TurboFan back on (src/agent/v8-tiering.ts), and `node --turbofan $(which hypha) agent …` keeps it.
// Set before anything else is loaded; Maglev is named for Node 22, where it is on.
const keepOptimising = process.execArgv.some((a) => /^--(turbofan|opt|maglev)$/.test(a));
if (process.argv[2] === 'agent' && !keepOptimising) setFlagsFromString('--no-turbofan --no-maglev');

const main = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('hypha: the compiled CLI is missing (dist/). Run `npm install` or `npm run build` in the hypha folder.\n');
  process.exit(2);
}
const { run } = await import(pathToFileURL(main).href);
process.exitCode = await run(process.argv.slice(2));
