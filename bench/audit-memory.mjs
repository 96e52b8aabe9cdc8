// Benchmark: memory of `canopy audit` over manifest trees of 500 and 5,000 objects. Passing objects
// are only counted, so the heap should not grow with the number of objects (only with failures).
// Run with `npm run bench:audit` (it builds first, and exposes gc so the heap is measured after collection).
// Not part of `npm test`.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runAudit } from '../dist/cli/audit/index.js';
import { createLogger } from '../dist/operations/decision-log/index.js';

function tree(objects) {
  const dir = mkdtempSync(path.join(tmpdir(), 'canopy-bench-audit-'));
  const perFile = 100;
  for (let f = 0; f * perFile < objects; f++) {
    mkdirSync(path.join(dir, `team-${f % 10}`), { recursive: true });
    const docs = [];
    for (let i = 0; i < perFile && f * perFile + i < objects; i++) {
      const n = f * perFile + i;
      const privileged = n % 50 === 0; // 2% fail
      docs.push(
        `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app-${n}, namespace: team-${f % 10}, labels: {app: app-${n}}}\n` +
          `spec: {replicas: 2, template: {metadata: {labels: {app: app-${n}}}, spec: {containers: [{name: app, image: "registry.example.com/team/app:${n}", ` +
          `securityContext: {privileged: ${privileged}}, resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 64Mi}}}]}}}`,
      );
    }
    writeFileSync(path.join(dir, `team-${f % 10}`, `apps-${f}.yaml`), docs.join('\n---\n'));
  }
  return dir;
}

async function measure(objects) {
  const dir = tree(objects);
  global.gc?.();
  const baseline = process.memoryUsage();
  let peakHeap = baseline.heapUsed;
  let peakRss = baseline.rss;
  const timer = setInterval(() => {
    const now = process.memoryUsage();
    peakHeap = Math.max(peakHeap, now.heapUsed);
    peakRss = Math.max(peakRss, now.rss);
  }, 5);
  const started = process.hrtime.bigint();
  const { report } = await runAudit({ policies: 'policies', contexts: [], allContexts: false, manifests: [dir], logger: createLogger(undefined, { level: 'error' }) });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(timer);
  const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  return { objects: report.totals.objects, failing: report.totals.failing, seconds: Math.round(seconds * 100) / 100, objectsPerSecond: Math.round(report.totals.objects / seconds), heapGrowthMB: mb(peakHeap - baseline.heapUsed), peakRssMB: mb(peakRss) };
}

const results = [await measure(500), await measure(5000)];
console.log('canopy audit memory (manifest trees; 2% of objects fail)');
console.log('objects  failing  seconds  objects/s  heap growth MB  peak RSS MB');
for (const r of results) console.log(`${String(r.objects).padStart(7)}  ${String(r.failing).padStart(7)}  ${String(r.seconds).padStart(7)}  ${String(r.objectsPerSecond).padStart(9)}  ${String(r.heapGrowthMB).padStart(14)}  ${String(r.peakRssMB).padStart(11)}`);
console.log(JSON.stringify({ benchmark: 'audit-memory', date: new Date().toISOString(), results }));
