// `canopy audit`
import { writeFile } from 'node:fs/promises';
import {
  AuditError,
  applyReports,
  type AuditConfig,
  type AuditRun,
  decisionSummaryText,
  failsAt,
  htmlReport,
  jsonReport,
  markdownReport,
  parseConfigArgument,
  policyReportYaml,
  runAudit,
  summariseDecisions,
  textReport,
} from '../audit/index.js';
import { createLogger } from '../../operations/decision-log/index.js';
import { SEVERITIES, type Severity } from '../../policy/engine/index.js';
import { readFleetConfig } from '../../operations/config/index.js';
import { ConfigError } from '../../facts/fleet/index.js';
import { EXIT, isPolicyProblem } from '../output.js';
import { messageOf } from '../../operations/errors/index.js';
import { kubeconfigOf, pathIn, type CliIo } from '../io.js';
import { AUDIT_FORMATS, type AuditCommandOptions } from '../options.js';

/** Writes a report to --output, or to standard output. */
async function emit(text: string, options: AuditCommandOptions, io: CliIo): Promise<void> {
  if (options.output) await writeFile(pathIn(io, options.output), text);
  else io.stdout.write(text);
}

async function summarise(log: string, options: AuditCommandOptions, io: CliIo): Promise<number> {
  const summary = await summariseDecisions(pathIn(io, log));
  await emit(options.format === 'json' ? `${JSON.stringify(summary, null, 2)}\n` : decisionSummaryText(summary), options, io);
  return EXIT.ok;
}

/** What is wrong with the options before anything is read, if anything. */
function refusal(options: AuditCommandOptions): string | undefined {
  if (!(AUDIT_FORMATS as readonly string[]).includes(options.format)) return `--format is one of ${AUDIT_FORMATS.join(', ')}`;
  if (options.failOn && !(SEVERITIES as readonly string[]).includes(options.failOn)) return `--fail-on is one of ${SEVERITIES.join(', ')}`;
  if (!options.manifests && (options.context ?? []).length === 0 && !options.allContexts) return 'say what to audit: --context NAME, --all-contexts or --manifests PATH';
  return undefined;
}

async function readConfigs(values: readonly string[], io: CliIo): Promise<AuditConfig[]> {
  const configs: AuditConfig[] = [];
  for (const value of values) {
    const { file, context } = parseConfigArgument(value);
    configs.push({ file, ...(context !== undefined ? { context } : {}), config: await readFleetConfig(pathIn(io, file)) });
  }
  return configs;
}

async function audit(options: AuditCommandOptions, io: CliIo, progress: ((n: number) => void) | undefined): Promise<AuditRun> {
  // $KUBECONFIG from io's environment, given explicitly: the kube client would read the process's.
  const kubeconfig = options.kubeconfig ? pathIn(io, options.kubeconfig) : kubeconfigOf(io);
  return runAudit({
    policies: pathIn(io, options.policies),
    contexts: options.context ?? [],
    allContexts: options.allContexts,
    manifests: (options.manifests ?? []).map((manifest) => pathIn(io, manifest)),
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(options.kinds ? { kinds: options.kinds } : {}),
    configs: await readConfigs(options.config ?? [], io),
    // The audit logs only errors, and to io's standard output as it would to the process's.
    logger: createLogger({ write: (line: string) => void io.stdout.write(line) }, { level: 'error' }),
    env: io.env,
    ...(progress ? { progress } : {}),
  });
}

export async function auditCommand(options: AuditCommandOptions, io: CliIo): Promise<number> {
  if (options.decisions) return summarise(options.decisions, options, io);
  const refused = refusal(options);
  if (refused) {
    io.stderr.write(`canopy audit: ${refused}\n`);
    return EXIT.unreadable;
  }
  const progress = io.stderr.isTTY ? (n: number) => void io.stderr.write(`\rcanopy audit: ${n} objects judged`) : undefined;
  let run;
  try {
    run = await audit(options, io, progress);
  } catch (error) {
    // What the user can fix gets one line; anything else is a bug, with its stack.
    const expected = isPolicyProblem(error) || error instanceof AuditError || error instanceof ConfigError || /unknown kinds/.test(messageOf(error));
    if (!expected) throw error;
    io.stderr.write(`canopy audit: ${messageOf(error)}\n`);
    return EXIT.unreadable;
  }
  if (progress) io.stderr.write('\n');
  const { report } = run;
  const render = { text: textReport, json: jsonReport, markdown: markdownReport, html: htmlReport, policyreport: policyReportYaml }[options.format as (typeof AUDIT_FORMATS)[number]];
  // Problems go to standard error, once: the terminal summary on standard output leaves them out.
  const text = options.format === 'text' && !options.output ? textReport(report, { errors: false }) : render(report);
  await emit(text, options, io);
  for (const error of report.errors) io.stderr.write(`canopy audit: ${error}\n`);
  const unwritten = options.applyReports ? await applyReports(run) : [];
  for (const problem of unwritten) io.stderr.write(`canopy audit: ${problem}\n`);
  if ((report.totals.objects === 0 && report.errors.length > 0) || unwritten.length > 0) return EXIT.unreadable;
  return options.failOn && failsAt(report, options.failOn as Severity) ? 1 : 0;
}
