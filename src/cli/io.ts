// What a run of the `canopy` command may touch of its surroundings: where it prints, what it reads on
// standard input, its environment and its working directory. bin/canopy.js hands over the process's own;
// tests hand over captured ones and run commands in process, so no command reads `process` for these.
import path from 'node:path';

/** Somewhere to print: process.stdout / process.stderr, or a capture. */
export interface Output {
  write(text: string): unknown;
  /** A terminal: commander wraps help to its width, `canopy audit` shows progress on it. */
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface CliIo {
  readonly stdout: Output;
  readonly stderr: Output;
  /** Standard input: its whole text, or a stream read only by a command given "-". */
  readonly stdin: string | AsyncIterable<string | Uint8Array>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The directory relative paths given to a command are read from. */
  readonly cwd: string;
}

/** The process's own io; stdin is a getter, so a command that never reads it never opens it. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    cwd: process.cwd(),
  };
}

/** All of standard input, as text. */
export async function readStdin(io: CliIo): Promise<string> {
  if (typeof io.stdin === 'string') return io.stdin;
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A path given to a command, as the file system will find it from io.cwd. It stays as given when it
 * already means that file from the process's directory (always, when io is the process's own), so the
 * messages that name it, here and in the libraries, say it as the user wrote it.
 */
export function pathIn(io: CliIo, given: string): string {
  const resolved = path.resolve(io.cwd, given);
  return resolved === path.resolve(given) ? given : resolved;
}

/**
 * $KUBECONFIG as one file for loadKubeConfig. A list of files (a:b) is left to @kubernetes/client-node's
 * default loading, which merges them but reads the process's environment.
 */
export function kubeconfigOf(io: CliIo): string | undefined {
  const value = io.env['KUBECONFIG'];
  return value && !value.includes(path.delimiter) ? value : undefined;
}
