import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import type { CliIo } from './io.js';
import { run } from './main.js';
import { listServe } from './program.js';

function capturing(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
    stdin: '',
    env: {},
    cwd: process.cwd(),
  };
  return { io, out: () => out, err: () => err };
}

describe('run', () => {
  const exitCode = process.exitCode;
  afterEach(() => {
    process.exitCode = exitCode;
  });

  it.each([
    [['--help'], 0, 'out'],
    [['--version'], 0, 'out'],
    [['help'], 0, 'out'],
    [[], 1, 'err'],
    [['bundle'], 1, 'err'],
    [['--nosuch'], 1, 'err'],
    [['eval'], 1, 'err'],
  ] as const)('canopy %j exits %i, printing to std%s', async (argv, code, where) => {
    const { io, out, err } = capturing();
    expect(await run([...argv], io)).toBe(code);
    expect((where === 'out' ? out : err)()).not.toBe('');
    expect((where === 'out' ? err : out)()).toBe('');
  });

  it("does not take help's exit code from the process's", async () => {
    process.exitCode = 3;
    expect(await run(['--help'], capturing().io)).toBe(0);
  });
});

describe('the list of commands', () => {
  it('shows serve as serve itself declares it', async () => {
    const { registerServe } = await import('./commands/serve.js');
    const shown = (declare: (program: Command) => void) => {
      const program = new Command('canopy');
      declare(program);
      const help = program.createHelp();
      return program.commands.map((command) => [help.subcommandTerm(command), help.subcommandDescription(command)]);
    };
    expect(shown(listServe)).toEqual(shown(registerServe));
  });
});
