// Where an impact report's old and new policies come from: a directory as it is, a bundle file
// (.tar.gz), or the policy directory of the current git repository at a revision (`main`, `HEAD~1`, a
// commit, `git:REV`).
import { execFile, spawn } from 'node:child_process';
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

interface TreeBlob {
  object: string;
  path: string;
}

/** The blobs of `git ls-tree -r -z` output (`MODE TYPE OBJECT\tPATH\0`); submodules are not files. */
function blobsOf(listing: string): TreeBlob[] {
  const blobs: TreeBlob[] = [];
  for (const entry of listing.split('\0')) {
    const tab = entry.indexOf('\t');
    const [, type, object] = entry.slice(0, tab).split(' ');
    if (tab > 0 && type === 'blob' && object) blobs.push({ object, path: entry.slice(tab + 1) });
  }
  return blobs;
}

/**
 * The contents of `objects`, in order, from one `git cat-file --batch`: one process for a whole
 * revision rather than one per file (a policy repository has hundreds).
 */
function readBlobs(objects: readonly string[], cwd: string): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['cat-file', '--batch'], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`git cat-file exited ${code}: ${stderr.trim()}`));
      try {
        resolve(parseBatch(Buffer.concat(chunks), objects.length));
      } catch (error) {
        reject(error as Error);
      }
    });
    child.stdin.end(objects.map((object) => `${object}\n`).join(''));
  });
}

/** Splits `git cat-file --batch` output: per object `OBJECT TYPE SIZE\n`, SIZE bytes, `\n`. */
function parseBatch(output: Buffer, count: number): Buffer[] {
  const contents: Buffer[] = [];
  let at = 0;
  while (contents.length < count) {
    const end = output.indexOf(0x0a, at);
    if (end < 0) throw new Error('git cat-file answered fewer objects than asked for');
    const header = output.toString('utf8', at, end).split(' ');
    const size = Number(header[2]);
    if (header.length !== 3 || !Number.isSafeInteger(size)) throw new Error(`git cat-file answered "${header.join(' ')}"`);
    contents.push(output.subarray(end + 1, end + 1 + size));
    at = end + 1 + size + 1;
  }
  return contents;
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
  const listing = await git(['ls-tree', '-r', '-z', commit, '--', prefix], top);
  const files = blobsOf(listing);
  if (files.length === 0) throw new ImpactInputError(`revision ${revision} has no files under ${prefix}/`);
  const contents = await readBlobs(files.map((file) => file.object), top);
  const dir = await mkdtemp(path.join(tmpdir(), 'canopy-impact-'));
  for (const [index, file] of files.entries()) {
    const target = path.join(dir, path.relative(prefix, file.path));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, contents[index] ?? Buffer.alloc(0));
  }
  return { dir, label: `${revision} (${commit.slice(0, 12)})`, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
