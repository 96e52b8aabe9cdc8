// `canopy audit --decisions LOG`: what a webhook's decision log says: denials by policy, namespace,
// user and hour, the slowest decisions, and the errors.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface DecisionSummary {
  decisions: number;
  denied: number;
  byPolicy: Record<string, number>;
  byNamespace: Record<string, number>;
  byUser: Record<string, number>;
  byHour: Record<string, number>;
  slowest: { uid: string; latencyUs: number; kind: string; namespace: string; name: string }[];
  errors: { uid: string; time: string; error: string }[];
  unreadableLines: number;
}

const bump = (map: Record<string, number>, key: string) => (map[key] = (map[key] ?? 0) + 1);

export async function summariseDecisions(file: string, slowest = 10): Promise<DecisionSummary> {
  const summary: DecisionSummary = { decisions: 0, denied: 0, byPolicy: {}, byNamespace: {}, byUser: {}, byHour: {}, slowest: [], errors: [], unreadableLines: 0 };
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      summary.unreadableLines += 1;
      continue;
    }
    if (record['msg'] !== 'decision') continue;
    summary.decisions += 1;
    const uid = String(record['uid'] ?? '');
    const latencyUs = Number(record['latencyUs'] ?? 0);
    const entry = { uid, latencyUs, kind: String(record['kind'] ?? ''), namespace: String(record['namespace'] ?? ''), name: String(record['name'] ?? '') };
    summary.slowest.push(entry);
    summary.slowest.sort((a, b) => b.latencyUs - a.latencyUs);
    summary.slowest.length = Math.min(summary.slowest.length, slowest);
    const errors = Array.isArray(record['errors']) ? (record['errors'] as { policy?: string; error?: string }[]) : [];
    for (const error of errors) summary.errors.push({ uid, time: String(record['time'] ?? ''), error: `${error.policy}: ${error.error}` });
    if (typeof record['failure'] === 'string') summary.errors.push({ uid, time: String(record['time'] ?? ''), error: record['failure'] });
    if (record['decision'] !== 'deny') continue;
    summary.denied += 1;
    for (const policy of Array.isArray(record['denied']) ? (record['denied'] as string[]) : []) bump(summary.byPolicy, policy);
    bump(summary.byNamespace, String(record['namespace'] || '(cluster)'));
    bump(summary.byUser, String(record['user'] ?? ''));
    bump(summary.byHour, String(record['time'] ?? '').slice(0, 13) || 'unknown');
  }
  return summary;
}

export function decisionSummaryText(summary: DecisionSummary): string {
  const top = (title: string, map: Record<string, number>) => [
    `${title}:`,
    ...Object.entries(map).sort(([, a], [, b]) => b - a).slice(0, 10).map(([key, n]) => `  ${String(n).padStart(6)}  ${key}`),
  ];
  return `${[
    `${summary.decisions} decisions, ${summary.denied} denied${summary.unreadableLines ? `; ${summary.unreadableLines} lines were not JSON` : ''}`,
    ...top('denials by policy', summary.byPolicy),
    ...top('denials by namespace', summary.byNamespace),
    ...top('denials by user', summary.byUser),
    ...top('denials by hour (UTC)', summary.byHour),
    'slowest decisions:',
    ...summary.slowest.map((d) => `  ${String(d.latencyUs).padStart(8)} µs  ${d.kind} ${d.namespace ? `${d.namespace}/` : ''}${d.name} (${d.uid})`),
    `errors: ${summary.errors.length}`,
    ...summary.errors.slice(0, 20).map((e) => `  ${e.time} ${e.uid}: ${e.error}`),
  ].join('\n')}\n`;
}
