// `canopy audit`
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  applyReports,
  decisionSummaryText,
  failsAt,
  htmlReport,
  jsonReport,
  markdownReport,
  policyReportYaml,
  runAudit,
  summariseDecisions,
  textReport,
} from '../../audit/index.js';
import { createLogger } from '../../decision-log/index.js';
import { SEVERITIES, type Severity } from '../../engine/index.js';
import { readFleetConfig } from '../../config/index.js';
import { EXIT, isPolicyProblem } from '../output.js';

const FORMATS = ['text', 'json', 'markdown', 'html', 'policyreport'] as const;
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

interface AuditCommandOptions {
  policies: string;
  context?: string[];
  allContexts: boolean;
  kubeconfig?: string;
  manifests?: string[];
  kinds?: string;
  config?: string;
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
        'exit 0, or 1 when --fail-on finds a failure at or above that severity, 2 when nothing could be audited',
    )
    .option('--policies <dir>', 'the policy directory', './policies')
    .option('--context <name>', 'a kubeconfig context to audit (repeatable: several clusters in one run)', collect)
    .option('--all-contexts', 'audit every context of the kubeconfig', false)
    .option('--kubeconfig <file>', 'the kubeconfig (default: $KUBECONFIG or ~/.kube/config)')
    .option('--manifests <path>', 'a manifest directory or file: multi-document YAML and JSON, read recursively (repeatable)', collect)
    .option('--kinds <list>', 'the kinds to list, e.g. pods,deployments.apps (default: what the policies can judge)')
    .option('--config <file>', 'a Canopy config file, for the cluster identity of manifests')
    .option('--format <format>', `${FORMATS.join(', ')}`, 'text')
    .option('-o, --output <file>', 'write the report here instead of standard output')
    .option('--fail-on <severity>', `exit 1 when a failure is at or above: ${SEVERITIES.join(', ')}`)
    .option('--apply-reports', 'write the PolicyReports to each audited cluster', false)
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
        run = await runAudit({
          policies: options.policies,
          contexts,
          allContexts: options.allContexts,
          manifests: options.manifests ?? [],
          ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
          ...(options.kinds ? { kinds: options.kinds } : {}),
          ...(options.config ? { config: await readFleetConfig(options.config) } : {}),
          logger: createLogger(undefined, { level: 'error' }),
          ...(progress ? { progress } : {}),
        });
      } catch (error) {
        if (!isPolicyProblem(error) && !/unknown kinds/.test((error as Error).message)) throw error;
        process.stderr.write(`canopy audit: ${(error as Error).message}\n`);
        process.exitCode = EXIT.unreadable;
        return;
      }
      if (progress) process.stderr.write('\n');
      const { report } = run;
      const render = { text: textReport, json: jsonReport, markdown: markdownReport, html: htmlReport, policyreport: policyReportYaml }[options.format as (typeof FORMATS)[number]];
      const text = render(report);
      if (options.output) await writeFile(options.output, text);
      else process.stdout.write(text);
      for (const error of report.errors) process.stderr.write(`canopy audit: ${error}\n`);
      if (options.applyReports) for (const problem of await applyReports(run)) process.stderr.write(`canopy audit: ${problem}\n`);
      if (report.totals.objects === 0 && report.errors.length > 0) process.exitCode = EXIT.unreadable;
      else process.exitCode = options.failOn && failsAt(report, options.failOn as Severity) ? 1 : 0;
    });
}
