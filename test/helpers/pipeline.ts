// An in-process pipeline with a policy directory activated, for tests of policies and decisions.
import { Writable } from 'node:stream';
import { createLogger } from '../../src/decision-log/index.js';
import { loadPolicyDirectory } from '../../src/engine/index.js';
import { AdmissionPipeline, type AdmissionResult } from '../../src/pipeline/index.js';
import type { AdmissionReviewFixture } from './fixtures.js';

export interface TestPipeline {
  pipeline: AdmissionPipeline;
  review: (body: AdmissionReviewFixture) => AdmissionResult;
  logLines: Record<string, unknown>[];
}

export async function pipelineFor(policies: string): Promise<TestPipeline> {
  const logLines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const pipeline = new AdmissionPipeline({ decisionLog: createLogger(sink) });
  pipeline.activate(await loadPolicyDirectory(policies));
  return { pipeline, review: (body) => pipeline.review(body), logLines };
}
