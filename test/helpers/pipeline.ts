// An in-process pipeline with a policy directory activated, for tests of policies and decisions.
import { logSink } from './log-sink.js';
import { createLogger } from '../../src/operations/decision-log/index.js';
import { loadPolicyDirectory } from '../../src/policy/set/index.js';
import { AdmissionPipeline, type AdmissionResult } from '../../src/pipeline/index.js';
import type { AdmissionReviewFixture } from './fixtures.js';

export interface TestPipeline {
  pipeline: AdmissionPipeline;
  review: (body: AdmissionReviewFixture) => AdmissionResult;
  logLines: Record<string, unknown>[];
}

export async function pipelineFor(policies: string): Promise<TestPipeline> {
  const { stream: sink, lines: logLines } = logSink();
  const pipeline = new AdmissionPipeline({ decisionLog: createLogger(sink) });
  await pipeline.activate(await loadPolicyDirectory(policies));
  return { pipeline, review: (body) => pipeline.review(body), logLines };
}
