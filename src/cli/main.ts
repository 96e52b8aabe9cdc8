// The `canopy` command line.
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerBundle } from './commands/bundle.js';
import { registerCerts } from './commands/certs.js';
import { registerEval } from './commands/eval.js';
import { registerFacts } from './commands/facts.js';
import { registerFmt } from './commands/fmt.js';
import { registerImpact } from './commands/impact.js';
import { registerServe } from './commands/serve.js';
import { registerTest } from './commands/test.js';
import { registerValidate } from './commands/validate.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command('canopy')
    .description('Cedar policies for Kubernetes admission: a validating webhook and the tools around it')
    .version(version)
    .showHelpAfterError();
  registerServe(program);
  registerEval(program);
  registerFacts(program);
  registerValidate(program);
  registerFmt(program);
  registerTest(program);
  registerImpact(program);
  registerBundle(program);
  registerAudit(program);
  registerCerts(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
