// `canopy impact`: what a policy change would change, replayed on recorded requests.
import { loadPolicyDirectory } from '../../policy/set/index.js';
import { AdmissionPipeline } from '../../pipeline/index.js';
import { compareOutcomes } from './compare.js';
import type { ImpactReport } from './report.js';
import { readRecordedRequests } from './requests.js';
import { policySource } from './source.js';

export { jsonReport, markdownReport, counts, type ImpactReport } from './report.js';
export { readRecordedRequests, type RecordedRequest } from './requests.js';
export { ImpactInputError, policySource } from './source.js';
export type { Change, Outcome } from './compare.js';

export interface ImpactOptions {
  from: string;
  to: string;
  requests: string;
  /** The policy directory's path inside the git repository, for revisions. */
  policiesPath: string;
  /** Where --from and --to are looked for, as directories, bundles or revisions (default: the process's directory). */
  cwd?: string;
}

async function pipelineFor(dir: string): Promise<AdmissionPipeline> {
  const pipeline = new AdmissionPipeline();
  await pipeline.activate(await loadPolicyDirectory(dir));
  return pipeline;
}

/** Throws ImpactInputError, or what loading and activating a policy directory throws. */
export async function impact(options: ImpactOptions): Promise<ImpactReport> {
  const from = await policySource(options.from, options.policiesPath, options.cwd);
  const to = await policySource(options.to, options.policiesPath, options.cwd);
  try {
    const [before, after] = [await pipelineFor(from.dir), await pipelineFor(to.dir)];
    const { requests, problems } = await readRecordedRequests(options.requests);
    const comparison = compareOutcomes(before, after, requests);
    return { from: from.label, to: to.label, ...comparison, problems: [...problems, ...comparison.problems] };
  } finally {
    await Promise.all([from.cleanup(), to.cleanup()]);
  }
}
