// README's quick start names the Node.js versions Canopy runs on, and package.json's `engines` says the
// same. `npm ci` warns (EBADENGINE) when a locked dependency asks for a newer Node than that: this test
// catches such a dependency before a user sees the warning.
import { readFileSync } from 'node:fs';
import { subset, validRange } from 'semver';
import { describe, expect, it } from 'vitest';

interface LockedPackage {
  version?: string;
  engines?: { node?: string } | string[];
}

const root = new URL('../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as { packages: Record<string, LockedPackage> };

describe('the Node.js versions Canopy names', () => {
  const ours = manifest.engines.node;

  it('are a valid range, and README says the lowest of them', () => {
    expect(validRange(ours)).not.toBeNull();
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    expect(readme).toContain('Node.js 20.19 or later');
    expect(ours.startsWith('^20.19.0')).toBe(true);
  });

  it('satisfy every locked dependency that names the Node.js it needs', () => {
    const refused: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      const node = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (!path || node === undefined) continue;
      if (!subset(ours, node)) refused.push(`${path.replace(/^.*node_modules\//, '')}@${entry.version ?? '?'} wants node ${node}`);
    }
    expect(refused).toEqual([]);
  });
});
