// The 88 AdmissionReview requests a real kube-apiserver sent, from ../shared/fixtures.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURE_DIR = fileURLToPath(new URL('../../../shared/fixtures/admission-reviews/', import.meta.url));
export const STARTER_POLICIES = `${REPO_ROOT}policies`;

export interface AdmissionReviewFixture {
  kind: string;
  apiVersion: string;
  request: {
    uid: string;
    operation: string;
    object: Record<string, unknown> | null;
    oldObject: Record<string, unknown> | null;
    [key: string]: unknown;
  };
}

export function fixtureNames(): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort();
}

/** A fresh copy of a fixture, by its number (11) or file name; safe to modify. */
export function fixture(which: number | string): AdmissionReviewFixture {
  const name =
    typeof which === 'number'
      ? fixtureNames().find((n) => n.startsWith(String(which).padStart(3, '0')))
      : which;
  if (!name) throw new Error(`no fixture ${which}`);
  return JSON.parse(readFileSync(`${FIXTURE_DIR}${name}`, 'utf8')) as AdmissionReviewFixture;
}

/** The pod spec inside an object of any workload kind, for tests that change it. */
export function podSpecOf(object: Record<string, unknown>): Record<string, unknown> {
  const spec = object['spec'] as Record<string, unknown>;
  if (object['kind'] === 'Pod') return spec;
  if (object['kind'] === 'CronJob') {
    const job = (spec['jobTemplate'] as Record<string, Record<string, unknown>>)['spec'] as Record<string, unknown>;
    return (job['template'] as Record<string, Record<string, unknown>>)['spec'] as Record<string, unknown>;
  }
  return (spec['template'] as Record<string, Record<string, unknown>>)['spec'] as Record<string, unknown>;
}
