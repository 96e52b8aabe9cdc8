#!/usr/bin/env node
// The `canopy` command: runs the compiled CLI in dist/ (build it with `npm run build`) with this
// process's io, and exits with the code it returns. (`canopy serve` keeps the process running and ends it itself.)
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

// Commands that run for about a second compile Cedar's wasm with V8's baseline compiler only: V8 would
// otherwise spend more CPU optimising Cedar's large functions in the background than the command runs
// (canopy eval of one file: 1.85 s of CPU, 0.97 s so; canopy test of the shipped policies 2.9 s, 2.1 s;
// 2 cores, Intel Xeon, Node 20.20.2). serve, audit and impact judge thousands of requests and keep it.
const SHORT_COMMANDS = new Set(['eval', 'facts', 'validate', 'test', 'fmt', 'bundle', 'budgets', 'certs']);
if (SHORT_COMMANDS.has(process.argv[2] ?? '')) setFlagsFromString('--liftoff-only');

// A reader that stops reading (`canopy eval … | head`) ends the command quietly, as other command-line
// tools do, instead of with a stack trace for the write that had nowhere to go. Its exit code is 2 (as
// for input it could not finish) unless the command had already finished with its own.
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 2);
});

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('canopy: not built yet: run `npm run build` (or `npm start`, which builds first)\n');
  process.exitCode = 2;
} else {
  const { run, processIo } = await import(entry.href);
  process.exitCode = await run(process.argv.slice(2), processIo());
}
