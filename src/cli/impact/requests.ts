// The requests an impact report replays: AdmissionReview files (.json, .yaml), and request logs
// recorded by `canopy serve --record-requests` (.jsonl: one {endpoint, review} per line), from a
// file or a directory searched recursively.
import { readFile, stat } from 'node:fs/promises';
import { findFiles } from '../../sources/files/find-files.js';
import { parse as parseYaml } from 'yaml';
import { ImpactInputError } from './source.js';
import { messageOf } from '../../operations/errors/index.js';

export type Endpoint = 'validate' | 'mutate';

export interface RecordedRequest {
  /** `file` or `file:line`. */
  source: string;
  review: unknown;
  /** The webhook the request was recorded at; undefined for plain files (both are replayed). */
  endpoint?: Endpoint;
}

const REVIEW_FILE = /\.(json|ya?ml)$/;
const LOG_FILE = /\.(jsonl|ndjson)$/;

async function listFiles(root: string): Promise<string[]> {
  const info = await stat(root).catch(() => undefined);
  if (!info) throw new ImpactInputError(`no requests at ${root}`);
  if (!info.isDirectory()) return [root];
  return findFiles(root, (name) => REVIEW_FILE.test(name) || LOG_FILE.test(name));
}

export async function readRecordedRequests(root: string): Promise<{ requests: RecordedRequest[]; problems: string[] }> {
  const requests: RecordedRequest[] = [];
  const problems: string[] = [];
  for (const file of await listFiles(root)) {
    const text = await readFile(file, 'utf8');
    if (!LOG_FILE.test(file)) {
      try {
        requests.push({ source: file, review: file.endsWith('.json') ? JSON.parse(text) : parseYaml(text) });
      } catch (error) {
        problems.push(`${file}: ${messageOf(error)}`);
      }
      continue;
    }
    text.split('\n').forEach((line, index) => {
      if (line.trim() === '') return;
      const source = `${file}:${index + 1}`;
      try {
        const record = JSON.parse(line) as { endpoint?: unknown; review?: unknown };
        const endpoint = record.endpoint === 'validate' || record.endpoint === 'mutate' ? record.endpoint : undefined;
        if (record.review === undefined) throw new Error('a recorded line holds {endpoint, review}');
        requests.push({ source, review: record.review, ...(endpoint ? { endpoint } : {}) });
      } catch (error) {
        problems.push(`${source}: ${messageOf(error)}`);
      }
    });
  }
  return { requests, problems };
}
