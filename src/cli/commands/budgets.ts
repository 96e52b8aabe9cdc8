// `canopy budgets`: the FinOps report of the fleet-wide budgets (FleetBudgets in the fleet store).
import { writeFile } from 'node:fs/promises';
import { DEFAULT_FLEET_NAMESPACE } from '../../kubernetes/objects/fleet-budget.js';
import { BudgetsError, budgetsReport, htmlReport, incomplete, jsonReport, problemLines, readFleetBudgets, textReport } from '../budgets/index.js';
import { EXIT } from '../output.js';
import { messageOf } from '../../operations/errors/index.js';
import { kubeconfigOf, pathIn, type CliIo } from '../io.js';

export const BUDGETS_OUTPUTS = ['text', 'json', 'html'] as const;

/** What `canopy budgets` takes, as commander hands it over (declared in program.ts). */
export interface BudgetsCommandOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  tenant?: string[];
  output: string;
  out?: string;
}

export async function budgetsCommand(options: BudgetsCommandOptions, io: CliIo): Promise<number> {
  const output = BUDGETS_OUTPUTS.find((name) => name === options.output);
  if (!output) {
    io.stderr.write(`canopy budgets: --output is one of ${BUDGETS_OUTPUTS.join(', ')}\n`);
    return EXIT.unreadable;
  }
  // $KUBECONFIG from io's environment, given explicitly: the kube client would read the process's.
  const kubeconfig = options.kubeconfig ? pathIn(io, options.kubeconfig) : kubeconfigOf(io);
  let read;
  try {
    read = await readFleetBudgets({
      ...(kubeconfig ? { kubeconfig } : {}),
      ...(options.context ? { context: options.context } : {}),
      namespace: options.namespace ?? DEFAULT_FLEET_NAMESPACE,
      tenants: options.tenant ?? [],
    });
  } catch (error) {
    // A fleet store that cannot be used or reached gets one line; anything else is a bug, with its stack.
    if (!(error instanceof BudgetsError)) throw error;
    io.stderr.write(`canopy budgets: ${error.message}\n`);
    return EXIT.unreadable;
  }
  const report = budgetsReport(read, Date.now());
  // What could not be read goes to standard error, once: the terminal report on standard output leaves it out.
  const text = output === 'html' ? htmlReport(report) : output === 'json' ? jsonReport(report) : textReport(report, { problems: Boolean(options.out) });
  if (options.out) {
    try {
      await writeFile(pathIn(io, options.out), text);
    } catch (error) {
      io.stderr.write(`canopy budgets: cannot write ${options.out}: ${messageOf(error)}\n`);
      return EXIT.unreadable;
    }
  } else {
    io.stdout.write(text);
  }
  for (const problem of problemLines(report)) io.stderr.write(`canopy budgets: ${problem}\n`);
  return incomplete(report) ? EXIT.unreadable : EXIT.ok;
}
