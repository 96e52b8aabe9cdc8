// The `canopy` command line: run(argv, io) parses the arguments, runs one command and resolves with its
// exit code. bin/canopy.js runs it with the process's io and exits with that code; tests run it in
// process with captured io. Commands print only through io and return their code; what they did not
// expect (a bug) is thrown, for the process to report as a crash.
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import type { CliIo, Output } from './io.js';
import { declareCommands, listServe, type Invocation } from './program.js';

export { processIo, type CliIo, type Output } from './io.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** The command a run names, as commander finds it: the first operand (`canopy help serve`: the second). */
function commandNamed(argv: readonly string[]): string | undefined {
  const operands = argv.filter((arg) => !arg.startsWith('-'));
  return operands[0] === 'help' ? operands[1] : operands[0];
}

/** Help fills a terminal's width, else commander's 80 columns. */
function helpWidth(output: Output): number {
  return (output.isTTY ? output.columns : undefined) ?? 80;
}

/** The program, printing through io; commander throws where it would exit. */
function canopyProgram(io: CliIo, onError: () => void): Command {
  return new Command('canopy')
    .description('Cedar policies for Kubernetes admission: a validating webhook and the tools around it')
    .version(version)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => {
        onError();
        io.stderr.write(text);
      },
      getOutHelpWidth: () => helpWidth(io.stdout),
      getErrHelpWidth: () => helpWidth(io.stderr),
      // The help has no colours; asking would read the process's terminal and environment.
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    });
}

/**
 * Commander's exit code for where it stopped: 0 after --help, --version or `canopy help`, 1 for a usage
 * error or for help shown because a command was missing (it went to standard error). Help's own code is
 * decided here: commander takes it from process.exitCode, which another run in the process may have set.
 */
function exitCodeOf(error: CommanderError, helpOnStderr: boolean): number {
  if (error.code === 'commander.help') return helpOnStderr ? 1 : 0;
  if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
  return error.exitCode;
}

/** Runs `canopy ARGS...` (argv without node and the script) and resolves with its exit code. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const invocation: Invocation = { io, code: 0 };
  let wroteErrors = false;
  const program = canopyProgram(io, () => (wroteErrors = true));
  // serve declares its options from operations/config: imported only to run serve or show its help.
  if (commandNamed(argv) === 'serve') {
    const { registerServe } = await import('./commands/serve.js');
    registerServe(program);
  } else {
    listServe(program);
  }
  declareCommands(program, invocation);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return exitCodeOf(error, wroteErrors);
    throw error;
  }
  return invocation.code;
}
