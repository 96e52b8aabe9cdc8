#!/usr/bin/env node
// The `canopy` command: runs the compiled CLI in dist/ (build it with `npm run build`) with this
// process's io, and exits with the code it returns. (`canopy serve` keeps the process running and ends it itself.)
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('canopy: not built yet: run `npm run build` (or `npm start`, which builds first)\n');
  process.exitCode = 2;
} else {
  const { run, processIo } = await import(entry.href);
  process.exitCode = await run(process.argv.slice(2), processIo());
}
