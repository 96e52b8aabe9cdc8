// The composition root (src/app): what `canopy serve` starts, tests and benchmarks start too. A start that
// fails must not leave what it had started running: in a process that keeps going (a test runner, an
// operator's supervisor retrying) a leftover directory watcher would keep reloading policies nobody serves.
import { createServer, type Server } from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { startCanopy, type RunningCanopy } from '../src/app/index.js';
import { parseCanopyConfig } from '../src/operations/config/index.js';
import { createCertificateAuthority, issueServingCertificate } from '../src/sources/tls/index.js';
import { logSink } from './helpers/log-sink.js';
import { policyDir } from './helpers/policy-dir.js';

const ca = createCertificateAuthority('app test CA');
const servingCertificate = issueServingCertificate(ca, { hosts: ['127.0.0.1'] });
/** A forbid policy as Canopy takes them: an id and the advice a denied user reads. */
const rule = (id: string) => `@id("${id}")\n@advice("not in this test")\nforbid (principal, action, resource) when { context has nothing };\n`;

function configFor(policies: string, port: number) {
  return parseCanopyConfig({ host: '127.0.0.1', port, policies, engine: { workers: 0 }, stateDir: path.join(tmpdir(), 'canopy-app-test') }, 'app test');
}

/** Resolves once `condition` holds, checking every 50 ms; rejects after `ms`. */
async function eventually(condition: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const reloads = (lines: Record<string, unknown>[]) => lines.filter((line) => String(line['msg']).startsWith('policy directory'));

describe('startCanopy', () => {
  let running: RunningCanopy | undefined;
  let blocker: Server | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
  });

  it('serves from a policy directory and reloads it when its files change (the control for the test below)', async () => {
    const dir = policyDir({ 'rule.cedar': rule('test.rule') });
    const { stream, lines } = logSink();
    running = await startCanopy(configFor(dir, 0), { logDestination: stream, servingCertificate });
    expect(running.port).toBeGreaterThan(0);
    expect(running.summary[0]).toMatch(/^policy set sha256:\w+ .* is active; reloaded when its files change$/);
    writeFileSync(path.join(dir, 'another.cedar'), rule('test.another'));
    await eventually(() => reloads(lines).length > 0, 10_000, 'a reload');
    expect(reloads(lines)[0]?.['msg']).toBe('policy directory reloaded');
  });

  it('refuses a start on a port in use, and stops what it had started: no directory watcher is left behind', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker?.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const dir = policyDir({ 'rule.cedar': rule('test.rule') });
    const { stream, lines } = logSink();
    await expect(startCanopy(configFor(dir, port), { logDestination: stream, servingCertificate })).rejects.toThrow(/EADDRINUSE/);
    writeFileSync(path.join(dir, 'another.cedar'), rule('test.another'));
    // The watcher polls every second: three of its intervals, and it must have said nothing.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(reloads(lines)).toEqual([]);
  });
  it('refuses fleetBudgets.inCluster outside a pod, saying what to give instead', async () => {
    const config = parseCanopyConfig(
      { host: '127.0.0.1', port: 0, policies: policyDir({}), engine: { workers: 0 }, stateDir: path.join(tmpdir(), 'canopy-app-test'), fleetBudgets: { inCluster: true } },
      'app test',
    );
    const saved = process.env['KUBERNETES_SERVICE_HOST'];
    delete process.env['KUBERNETES_SERVICE_HOST'];
    try {
      await expect(startCanopy(config, { logDestination: logSink().stream, servingCertificate })).rejects.toThrow(
        /fleetBudgets\.inCluster \(--fleet-in-cluster\): Canopy is not running in a pod .* give fleetBudgets\.kubeconfig/,
      );
    } finally {
      if (saved !== undefined) process.env['KUBERNETES_SERVICE_HOST'] = saved;
    }
  });
});
