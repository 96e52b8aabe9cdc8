// `canopy eval FILE...`: AdmissionReview files through the same pipeline as the webhook.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { AdmissionReviewError } from '../../kubernetes/admission/index.js';
import { loadPolicyDirectory } from '../../policy/set/index.js';
import { AdmissionPipeline, type AdmissionOutcome, type AdmissionResult } from '../../pipeline/index.js';
import { redactObject } from '../../operations/recording/index.js';
import { parseLabels } from '../labels.js';
import { EXIT, isPolicyProblem } from '../output.js';
import { messageOf } from '../../operations/errors/index.js';

export interface EvalOptions {
  policies: string;
  json: boolean;
  mutate: boolean;
  namespaceLabels?: string;
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function describeRequest({ request }: { request: AdmissionResult['request'] }): string {
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

/** The file's body, or why it could not be read. */
async function readBody(file: string): Promise<{ body: unknown } | string> {
  let text: string;
  try {
    text = await readInput(file);
  } catch (error) {
    return `cannot read: ${messageOf(error)}`;
  }
  try {
    return { body: JSON.parse(text) as unknown };
  } catch (error) {
    return `not JSON: ${messageOf(error)}`;
  }
}

/** Runs `judge` on the file's body; returns its result, or why the file could not be judged. */
async function judgeFile<T>(file: string, judge: (body: unknown) => T): Promise<T | string> {
  const read = await readBody(file);
  if (typeof read === 'string') return read;
  try {
    return judge(read.body);
  } catch (error) {
    if (error instanceof AdmissionReviewError) return `not a valid AdmissionReview v1: ${error.message}`;
    throw error;
  }
}

function printMutation(file: string, { mutation, validation }: AdmissionOutcome, json: boolean): void {
  const { decision } = mutation;
  if (json) {
    // The mutated object is shown as a recorded one is: no Secret data, no environment values.
    const line = { file, mutation: mutation.review, object: redactObject(decision.mutated), ...(validation ? { validation: validation.review } : {}) };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    return;
  }
  if (!decision.allowed) {
    process.stdout.write(`DENY  ${file}: ${describeRequest(mutation)}\n      ${mutation.review.response.status?.message ?? ''}\n`);
    return;
  }
  const applied = decision.applied.length > 0 ? `patched by ${decision.applied.map((id) => `[${id}]`).join(', ')}` : 'no patch';
  process.stdout.write(`MUTATE ${file}: ${describeRequest(mutation)}: ${applied}\n`);
  if (decision.operations.length > 0) {
    process.stdout.write(`patch:\n${JSON.stringify(decision.operations, null, 2)}\nmutated object:\n${JSON.stringify(redactObject(decision.mutated), null, 2)}\n`);
  }
  if (validation) printHuman(file, validation);
}

export async function evalFiles(files: string[], options: EvalOptions): Promise<number> {
  const pipeline = new AdmissionPipeline();
  try {
    await pipeline.activate(await loadPolicyDirectory(options.policies));
  } catch (error) {
    if (!isPolicyProblem(error)) throw error;
    process.stderr.write(`canopy eval: ${options.policies}: ${error.message}\n`);
    return EXIT.unreadable;
  }
  // Without a cluster Canopy knows no namespace labels: the tenant, the data class and the tags come from here.
  const labels = options.namespaceLabels === undefined ? {} : parseLabels(options.namespaceLabels);
  if (typeof labels === 'string') {
    process.stderr.write(`canopy eval: --namespace-labels: ${labels}\n`);
    return EXIT.unreadable;
  }
  const facts = options.namespaceLabels === undefined ? {} : { namespaceLabels: labels };
  let denied = 0;
  let unreadable = 0;
  for (const file of files) {
    if (options.mutate) {
      const result = await judgeFile(file, (body) => pipeline.admit(body, facts));
      if (typeof result === 'string') {
        process.stderr.write(`canopy eval: ${file}: ${result}\n`);
        unreadable += 1;
        continue;
      }
      if (!result.mutation.decision.allowed || result.validation?.decision.allowed === false) denied += 1;
      printMutation(file, result, options.json);
      continue;
    }
    const result = await judgeFile(file, (body) => pipeline.review(body, facts));
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
    .option('--json', 'print one AdmissionReview response per line (with --mutate, one {file, mutation, object, validation} per line)', false)
    .option('--mutate', 'run the mutating webhook first and show the patch and the mutated object, then validate the mutated object', false)
    .option('--namespace-labels <k=v,...>', "labels of the requests' namespace, as a cluster would know them (tenant, data class: what quota, sovereignty and declared facts read)")
    .action(async (files: string[], options: EvalOptions) => {
      process.exitCode = await evalFiles(files, options);
    });
}
