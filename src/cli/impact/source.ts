// Where an impact report's old and new policies come from: a directory as it is, a bundle file
// (.tar.gz), or the policy directory of the current git repository at a revision (`main`, `HEAD~1`, a
// commit, `git:REV`).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { inspectBundle, MANIFEST, SIGNATURE } from '../../sources/bundle/index.js';
import { CanopyError, messageOf } from '../../operations/errors/index.js';

const run = promisify(execFile);

/** An impact input (policy source or requests) that cannot be used; the message says why. */
export class ImpactInputError extends CanopyError {
  constructor(message: string) {
    super('impact-input', message);
  }
}

export interface PolicySourceDir {
  dir: string;
  /** What the report calls it: the directory, or `REV (commit)`. */
  label: string;
  cleanup: () => Promise<void>;
}

async function isDirectory(candidate: string): Promise<boolean> {
  try {
    return (await stat(candidate)).isDirectory();
  } catch {
    return false;
  }
}

/** A bundle file: its files, as its manifest lists them (the signature is not checked: this is a report). */
async function bundleSource(file: string): Promise<PolicySourceDir> {
  let contents: Map<string, Buffer>;
  let revision: string;
  try {
    ({ contents, manifest: { revision } } = await inspectBundle(await readFile(file)));
  } catch (error) {
    throw new ImpactInputError(`${file} is not a readable bundle: ${messageOf(error)}`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'canopy-impact-'));
  for (const [name, data] of contents) {
    if (name === MANIFEST || name === SIGNATURE) continue;
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), data);
  }
  return { dir, label: `${path.basename(file)} (revision ${revision})`, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * `spec` as the file system finds it from `cwd`: as given when it means that file from the process's
 * directory too, so that messages name it as the user wrote it.
 */
function inDirectory(cwd: string, spec: string): string {
  const resolved = path.resolve(cwd, spec);
  return resolved === path.resolve(spec) ? spec : resolved;
}

async function git(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('git', args, { cwd, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' });
  return stdout;
}

/**
 * A directory holding the policies `spec` names. `policiesPath` is the policy directory's path inside
 * the repository, for revisions. Throws with a clear message when `spec` is neither.
 */
export async function policySource(spec: string, policiesPath: string, cwd = process.cwd()): Promise<PolicySourceDir> {
  const forceGit = spec.startsWith('git:');
  const local = inDirectory(cwd, spec);
  if (!forceGit && (await isDirectory(local))) return { dir: local, label: spec, cleanup: async () => {} };
  if (!forceGit && /\.tar\.gz$|\.tgz$/.test(spec)) return bundleSource(local);
  const revision = forceGit ? spec.slice(4) : spec;
  let top: string;
  let commit: string;
  try {
    top = (await git(['rev-parse', '--show-toplevel'], cwd)).trim();
    commit = (await git(['rev-parse', '--verify', '--quiet', `${revision}^{commit}`], top)).trim();
  } catch {
    throw new ImpactInputError(`"${spec}" is neither a directory nor a revision of the git repository here`);
  }
  const prefix = path.relative(top, path.resolve(cwd, policiesPath)).split(path.sep).join('/');
  const listing = await git(['ls-tree', '-r', '-z', '--name-only', commit, '--', prefix], top);
  const files = listing.split('\0').filter(Boolean);
  if (files.length === 0) throw new ImpactInputError(`revision ${revision} has no files under ${prefix}/`);
  const dir = await mkdtemp(path.join(tmpdir(), 'canopy-impact-'));
  for (const file of files) {
    const target = path.join(dir, path.relative(prefix, file));
    await mkdir(path.dirname(target), { recursive: true });
    const { stdout } = await run('git', ['show', `${commit}:${file}`], { cwd: top, maxBuffer: 64 * 1024 * 1024, encoding: 'buffer' });
    await writeFile(target, stdout);
  }
  return { dir, label: `${revision} (${commit.slice(0, 12)})`, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
