// Runs `canopy` as a user would, and collects what it prints: in this process with captured io
// (runCanopy: what the command does, without a Node start per call), or as the built binary in a
// process of its own (runCanopyProcess: bin/canopy.js itself, signals, `canopy serve`, and what reads the
// process's environment deep inside a library).
import { spawn } from 'node:child_process';
import { inspect } from 'node:util';
import { run, type CliIo, type Output } from '../../src/cli/main.js';
import { REPO_ROOT } from './fixtures.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** What a command prints, kept; not a terminal, as a pipe to a child process is not. */
class Capture implements Output {
  text = '';

  write(text: string): boolean {
    this.text += text;
    return true;
  }
}

/** `canopy serve` runs until a signal and exits the process itself: only as a process of its own. */
function servesWebhooks(args: readonly string[]): boolean {
  return args.find((arg) => !arg.startsWith('-')) === 'serve' && !args.includes('--help') && !args.includes('-h');
}

/** `canopy ARGS` in this process: the same code, exit code and output as the binary's. */
export async function runCanopy(args: string[], options: CliOptions = {}): Promise<CliResult> {
  if (servesWebhooks(args)) throw new Error('canopy serve runs in a process of its own: use runCanopyProcess');
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIo = { stdout, stderr, stdin: options.input ?? '', env: { ...process.env, ...options.env }, cwd: options.cwd ?? REPO_ROOT };
  try {
    const code = await run(args, io);
    return { code, stdout: stdout.text, stderr: stderr.text };
  } catch (error) {
    // What the binary does with an error no command expected: print it and exit 1.
    return { code: 1, stdout: stdout.text, stderr: `${stderr.text}${inspect(error)}\n` };
  }
}

/** `canopy ARGS` as the built binary, in a process of its own. */
export function runCanopyProcess(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${REPO_ROOT}bin/canopy.js`, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
