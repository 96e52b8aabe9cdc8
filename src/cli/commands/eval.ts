// `canopy eval FILE...`: AdmissionReview files through the same pipeline as the webhook.
import { readFile } from 'node:fs/promises';
import { AdmissionReviewError } from '../../kubernetes/admission/index.js';
import { loadPolicyDirectory } from '../../policy/set/index.js';
import { AdmissionPipeline, type AdmissionOutcome, type AdmissionResult } from '../../pipeline/index.js';
import { redactObject } from '../../operations/recording/index.js';
import { parseLabels } from '../labels.js';
import { EXIT, isPolicyProblem } from '../output.js';
import { messageOf } from '../../operations/errors/index.js';
import { pathIn, readStdin, type CliIo } from '../io.js';
import type { EvalOptions } from '../options.js';

function readInput(file: string, io: CliIo): Promise<string> {
  return file === '-' ? readStdin(io) : readFile(pathIn(io, file), 'utf8');
}

function describeRequest({ request }: { request: AdmissionResult['request'] }): string {
  const where = request.namespace && request.kind.kind !== 'Namespace' ? `${request.namespace}/` : '';
  const sub = request.subResource ? ` (${request.subResource})` : '';
  return `${request.operation} ${request.kind.kind}${sub} ${where}${request.name || '<unnamed>'}`;
}

function printHuman(file: string, result: AdmissionResult, io: CliIo): void {
  const { response } = result.review;
  const verdict = response.allowed ? 'ALLOW' : 'DENY ';
  const lines = [`${verdict} ${file}: ${describeRequest(result)}`];
  if (response.status) lines.push(`      ${response.status.message}`);
  for (const warning of response.warnings ?? []) lines.push(`      warning: ${warning}`);
  io.stdout.write(`${lines.join('\n')}\n`);
}

/** The file's body, or why it could not be read. */
async function readBody(file: string, io: CliIo): Promise<{ body: unknown } | string> {
  let text: string;
  try {
    text = await readInput(file, io);
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
async function judgeFile<T>(file: string, io: CliIo, judge: (body: unknown) => T): Promise<T | string> {
  const read = await readBody(file, io);
  if (typeof read === 'string') return read;
  try {
    return judge(read.body);
  } catch (error) {
    if (error instanceof AdmissionReviewError) return `not a valid AdmissionReview v1: ${error.message}`;
    throw error;
  }
}

function printMutation(file: string, { mutation, validation }: AdmissionOutcome, json: boolean, io: CliIo): void {
  const { decision } = mutation;
  if (json) {
    // The mutated object is shown as a recorded one is: no Secret data, no environment values.
    const line = { file, mutation: mutation.review, object: redactObject(decision.mutated), ...(validation ? { validation: validation.review } : {}) };
    io.stdout.write(`${JSON.stringify(line)}\n`);
    return;
  }
  if (!decision.allowed) {
    io.stdout.write(`DENY  ${file}: ${describeRequest(mutation)}\n      ${mutation.review.response.status?.message ?? ''}\n`);
    return;
  }
  const applied = decision.applied.length > 0 ? `patched by ${decision.applied.map((id) => `[${id}]`).join(', ')}` : 'no patch';
  io.stdout.write(`MUTATE ${file}: ${describeRequest(mutation)}: ${applied}\n`);
  if (decision.operations.length > 0) {
    io.stdout.write(`patch:\n${JSON.stringify(decision.operations, null, 2)}\nmutated object:\n${JSON.stringify(redactObject(decision.mutated), null, 2)}\n`);
  }
  if (validation) printHuman(file, validation, io);
}

export async function evalFiles(files: string[], options: EvalOptions, io: CliIo): Promise<number> {
  const pipeline = new AdmissionPipeline();
  try {
    await pipeline.activate(await loadPolicyDirectory(pathIn(io, options.policies)));
  } catch (error) {
    if (!isPolicyProblem(error)) throw error;
    io.stderr.write(`canopy eval: ${options.policies}: ${error.message}\n`);
    return EXIT.unreadable;
  }
  // Without a cluster Canopy knows no namespace labels: the tenant, the data class and the tags come from here.
  const labels = options.namespaceLabels === undefined ? {} : parseLabels(options.namespaceLabels);
  if (typeof labels === 'string') {
    io.stderr.write(`canopy eval: --namespace-labels: ${labels}\n`);
    return EXIT.unreadable;
  }
  const facts = options.namespaceLabels === undefined ? {} : { namespaceLabels: labels };
  let denied = 0;
  let unreadable = 0;
  for (const file of files) {
    if (options.mutate) {
      const result = await judgeFile(file, io, (body) => pipeline.admit(body, facts));
      if (typeof result === 'string') {
        io.stderr.write(`canopy eval: ${file}: ${result}\n`);
        unreadable += 1;
        continue;
      }
      if (!result.mutation.decision.allowed || result.validation?.decision.allowed === false) denied += 1;
      printMutation(file, result, options.json, io);
      continue;
    }
    const result = await judgeFile(file, io, (body) => pipeline.review(body, facts));
    if (typeof result === 'string') {
      io.stderr.write(`canopy eval: ${file}: ${result}\n`);
      unreadable += 1;
      continue;
    }
    if (!result.decision.allowed) denied += 1;
    if (options.json) io.stdout.write(`${JSON.stringify(result.review)}\n`);
    else printHuman(file, result, io);
  }
  if (!options.json) {
    const judged = files.length - unreadable;
    io.stdout.write(`${judged} judged: ${judged - denied} allowed, ${denied} denied; ${unreadable} unreadable\n`);
  }
  if (unreadable > 0) return EXIT.unreadable;
  return denied > 0 ? EXIT.denied : EXIT.ok;
}
