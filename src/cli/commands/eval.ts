// `canopy eval FILE...`: AdmissionReview files through the same pipeline as the webhook.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { AdmissionReviewError } from '../../admission/index.js';
import { loadPolicyDirectory } from '../../engine/index.js';
import { AdmissionPipeline, type AdmissionResult } from '../../pipeline/index.js';
import { EXIT, isPolicyProblem } from '../output.js';

export interface EvalOptions {
  policies: string;
  json: boolean;
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function describeRequest({ request }: AdmissionResult): string {
  const where = request.namespace && request.kind.kind !== 'Namespace' ? `${request.namespace}/` : '';
  const sub = request.subResource ? ` (${request.subResource})` : '';
  return `${request.operation} ${request.kind.kind}${sub} ${where}${request.name || '<unnamed>'}`;
}

function printHuman(file: string, result: AdmissionResult): void {
  const { response } = result.review;
  const verdict = response.allowed ? 'ALLOW' : 'DENY ';
  const lines = [`${verdict} ${file}: ${describeRequest(result)}`];
  if (response.status) lines.push(`      ${response.status.message}`);
  for (const warning of response.warnings ?? []) lines.push(`      warning: ${warning}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The file's result, or why it could not be judged. */
async function judgeFile(pipeline: AdmissionPipeline, file: string): Promise<AdmissionResult | string> {
  let text: string;
  try {
    text = await readInput(file);
  } catch (error) {
    return `cannot read: ${(error as Error).message}`;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return `not JSON: ${(error as Error).message}`;
  }
  try {
    return pipeline.review(body);
  } catch (error) {
    if (error instanceof AdmissionReviewError) return `not a valid AdmissionReview v1: ${error.message}`;
    throw error;
  }
}

export async function evalFiles(files: string[], options: EvalOptions): Promise<number> {
  const pipeline = new AdmissionPipeline();
  try {
    pipeline.activate(await loadPolicyDirectory(options.policies));
  } catch (error) {
    if (!isPolicyProblem(error)) throw error;
    process.stderr.write(`canopy eval: ${options.policies}: ${error.message}\n`);
    return EXIT.unreadable;
  }
  let denied = 0;
  let unreadable = 0;
  for (const file of files) {
    const result = await judgeFile(pipeline, file);
    if (typeof result === 'string') {
      process.stderr.write(`canopy eval: ${file}: ${result}\n`);
      unreadable += 1;
      continue;
    }
    if (!result.decision.allowed) denied += 1;
    if (options.json) process.stdout.write(`${JSON.stringify(result.review)}\n`);
    else printHuman(file, result);
  }
  if (!options.json) {
    const judged = files.length - unreadable;
    process.stdout.write(`${judged} judged: ${judged - denied} allowed, ${denied} denied; ${unreadable} unreadable\n`);
  }
  if (unreadable > 0) return EXIT.unreadable;
  return denied > 0 ? EXIT.denied : EXIT.ok;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description(
      'run AdmissionReview files through the validating pipeline ' +
        '(exit 0 all allowed, 1 any denied, 2 unreadable input or unusable policies)',
    )
    .argument('<file...>', 'AdmissionReview JSON files ("-" reads standard input)')
    .option('--policies <dir>', 'the policy directory', './policies')
    .option('--json', 'print one AdmissionReview response per line', false)
    .action(async (files: string[], options: EvalOptions) => {
      process.exitCode = await evalFiles(files, options);
    });
}
