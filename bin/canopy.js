#!/usr/bin/env node
// The `canopy` command: runs the compiled CLI in dist/ (build it with `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('canopy: not built yet: run `npm run build` (or `npm start`, which builds first)\n');
  process.exit(2);
}
const { main } = await import(entry.href);
await main(process.argv);
