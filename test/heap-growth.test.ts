// canopy serve sets how far V8 lets a heap grow before a full collection (app/heap-growth.ts), for the
// whole process. V8 reads the setting each time it sets a heap's next limit, so it must take effect when
// set at run time: should a Node release freeze V8's flags after start, the setting would do nothing,
// silently. Checked in processes of their own (the setting is process-wide), by counting full
// collections (mark-compacts) for the same allocations at 10% and at 300%.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/fixtures.js';

function fullCollections(percent: number): number {
  const script = `
    import { setHeapGrowth } from '${REPO_ROOT}dist/app/heap-growth.js';
    import { constants, PerformanceObserver } from 'node:perf_hooks';
    setHeapGrowth(${percent});
    let full = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full += 1;
    }).observe({ entryTypes: ['gc'] });
    // About 40 MB that stays, then objects that each outlive several young-generation collections and
    // die: what a server promotes to the old generation, and what a full collection takes back.
    const kept = Array.from({ length: 300_000 }, (_, index) => ({ index, text: 'kept-' + index }));
    const ring = new Array(400_000);
    for (let index = 0; index < 4_000_000; index++) ring[index % ring.length] = { index, text: 'passing-' + index };
    await new Promise((resolve) => setTimeout(resolve, 100));
    process.stdout.write(JSON.stringify({ full, kept: kept.length }));
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`the allocation process failed: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { full: number }).full;
}

describe('heap growth (engine.heapGrowthPercent)', () => {
  it('set at run time, spaces full collections further apart the larger it is', () => {
    const atTenPercent = fullCollections(10);
    const atThreeHundred = fullCollections(300);
    expect(atTenPercent).toBeGreaterThanOrEqual(4);
    expect(atThreeHundred * 2).toBeLessThan(atTenPercent);
  });
});
