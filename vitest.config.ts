import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// RSA keys come from a pool of test-only keys, each handed out once per run (test/fixtures/rsa-keys):
// in test threads through the setup file, in the Node processes tests start through NODE_OPTIONS.
const pooledKeys = fileURLToPath(new URL('test/helpers/pooled-rsa-keys.cjs', import.meta.url));
if (!process.env['TEST_RSA_KEY_CLAIMS']) {
  const claims = mkdtempSync(path.join(tmpdir(), 'canopy-test-keys-'));
  process.env['TEST_RSA_KEY_CLAIMS'] = claims;
  process.env['NODE_OPTIONS'] = [process.env['NODE_OPTIONS'], `--require=${pooledKeys}`].filter(Boolean).join(' ');
  process.once('exit', () => rmSync(claims, { recursive: true, force: true }));
}

export default defineConfig({
  test: {
    // Generous: beside npm run bench, on two cores, the heaviest tests (several signed bundles built,
    // tested and activated) took over 30 s; a test that hangs is still given up.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Test files share their worker thread's modules (the Cedar wasm engine, fastify, client libraries):
    // importing them again for every file cost more than most files' tests. Tests keep no state in
    // modules they do not reset, and the CLI runs in process with its own io (test/helpers/cli.ts).
    pool: 'threads',
    isolate: false,
    // Half the time a test waits (on a canopy process, a server, a registry): more threads than cores keep
    // the cores busy. Vitest's default, one thread fewer than cores, ran this suite in one thread on two.
    maxWorkers: Math.ceil(availableParallelism() * 1.5),
    setupFiles: [pooledKeys],
    projects: [
      // Beside the code: one module, no network but 127.0.0.1, no built CLI.
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'] } },
      // Whole capabilities: HTTPS servers, the CLI, registries, fake API servers. CLI tests that run the
      // built `canopy` binary need dist/, so the build runs once before any of them.
      { extends: true, test: { name: 'e2e', include: ['test/**/*.test.ts'], globalSetup: ['test/helpers/build.ts'] } },
    ],
  },
});
