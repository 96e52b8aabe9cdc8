// `canopy audit`
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  AuditError,
  applyReports,
  type AuditConfig,
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

const FORMATS = ['text', 'json', 'markdown', 'html', 'policyreport'] as const;
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

interface AuditCommandOptions {
  policies: string;
  context?: string[];
  allContexts: boolean;
  kubeconfig?: string;
  manifests?: string[];
  kinds?: string;
  config?: string[];
  format: string;
  output?: string;
  failOn?: string;
  applyReports: boolean;
  decisions?: string;
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description(
      'judge existing objects in clusters and manifest directories with the webhook\'s policies, as if they were being created; ' +
        'exit 0, or 1 when --fail-on finds a failure at or above that severity, 2 when nothing could be audited, ' +
        'the command is unusable (an unknown context, a bad --config) or --apply-reports could not write the reports',
    )
    .option('--policies <dir>', 'the policy directory', './policies')
    .option('--context <name>', 'a kubeconfig context to audit (repeatable: several clusters in one run)', collect)
    .option('--all-contexts', 'audit every context of the kubeconfig', false)
    .option('--kubeconfig <file>', 'the kubeconfig (default: $KUBECONFIG or ~/.kube/config)')
    .option('--manifests <path>', 'a manifest directory or file: multi-document YAML and JSON, read recursively (repeatable)', collect)
    .option('--kinds <list>', 'the kinds to list, e.g. pods,deployments.apps (default: what the policies can judge)')
    .option(
      '--config <[context=]file>',
      'a Canopy config file (as for canopy serve): its cluster identity and kcp mapping apply to the manifests and to every audited context, ' +
        'each cluster\'s ClusterProperty / ClusterProfile read on top as canopy serve does; context=file gives one context its own (repeatable)',
      collect,
    )
    .option('--format <format>', `${FORMATS.join(', ')}`, 'text')
    .option('-o, --output <file>', 'write the report here instead of standard output')
    .option('--fail-on <severity>', `exit 1 when a failure is at or above: ${SEVERITIES.join(', ')}`)
    .option('--apply-reports', 'write the PolicyReports to each audited cluster (needs the wgpolicyk8s.io/v1alpha2 PolicyReport CRDs there)', false)
    .option('--decisions <log>', 'instead: summarise a decision log (denials by policy, namespace, user and hour; slowest; errors)')
    .action(async (options: AuditCommandOptions) => {
      if (options.decisions) {
        const summary = await summariseDecisions(options.decisions);
        const text = options.format === 'json' ? `${JSON.stringify(summary, null, 2)}\n` : decisionSummaryText(summary);
        if (options.output) await writeFile(options.output, text);
        else process.stdout.write(text);
        return;
      }
      if (!(FORMATS as readonly string[]).includes(options.format)) {
        process.stderr.write(`canopy audit: --format is one of ${FORMATS.join(', ')}\n`);
        process.exitCode = EXIT.unreadable;
        return;
      }
      if (options.failOn && !(SEVERITIES as readonly string[]).includes(options.failOn)) {
        process.stderr.write(`canopy audit: --fail-on is one of ${SEVERITIES.join(', ')}\n`);
        process.exitCode = EXIT.unreadable;
        return;
      }
      const contexts = options.context ?? [];
      if (!options.manifests && contexts.length === 0 && !options.allContexts) {
        process.stderr.write('canopy audit: say what to audit: --context NAME, --all-contexts or --manifests PATH\n');
        process.exitCode = EXIT.unreadable;
        return;
      }
      const progress = process.stderr.isTTY ? (n: number) => process.stderr.write(`\rcanopy audit: ${n} objects judged`) : undefined;
      let run;
      try {
        const configs: AuditConfig[] = [];
        for (const value of options.config ?? []) {
          const { file, context } = parseConfigArgument(value);
          configs.push({ file, ...(context !== undefined ? { context } : {}), config: await readFleetConfig(file) });
        }
        run = await runAudit({
          policies: options.policies,
          contexts,
          allContexts: options.allContexts,
          manifests: options.manifests ?? [],
          ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
          ...(options.kinds ? { kinds: options.kinds } : {}),
          configs,
          logger: createLogger(undefined, { level: 'error' }),
          ...(progress ? { progress } : {}),
        });
      } catch (error) {
        // What the user can fix gets one line; anything else is a bug, with its stack.
        const expected = isPolicyProblem(error) || error instanceof AuditError || error instanceof ConfigError || /unknown kinds/.test(messageOf(error));
        if (!expected) throw error;
        process.stderr.write(`canopy audit: ${messageOf(error)}\n`);
        process.exitCode = EXIT.unreadable;
        return;
      }
      if (progress) process.stderr.write('\n');
      const { report } = run;
      const render = { text: textReport, json: jsonReport, markdown: markdownReport, html: htmlReport, policyreport: policyReportYaml }[options.format as (typeof FORMATS)[number]];
      // Problems go to standard error, once: the terminal summary on standard output leaves them out.
      const text = options.format === 'text' && !options.output ? textReport(report, { errors: false }) : render(report);
      if (options.output) await writeFile(options.output, text);
      else process.stdout.write(text);
      for (const error of report.errors) process.stderr.write(`canopy audit: ${error}\n`);
      const unwritten = options.applyReports ? await applyReports(run) : [];
      for (const problem of unwritten) process.stderr.write(`canopy audit: ${problem}\n`);
      if ((report.totals.objects === 0 && report.errors.length > 0) || unwritten.length > 0) process.exitCode = EXIT.unreadable;
      else process.exitCode = options.failOn && failsAt(report, options.failOn as Severity) ? 1 : 0;
    });
}
