// The bundle's container: a gzipped tar, written deterministically and read defensively. The reader
// refuses absolute paths, "..", links and other non-file entries, oversized files and archives, and
// duplicate names: a bundle is untrusted input until its signature has been checked.
import { gunzipSync, gzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import { CanopyError, messageOf } from '../../operations/errors/index.js';

export const LIMITS = { fileBytes: 4 * 1024 * 1024, totalBytes: 64 * 1024 * 1024, files: 10_000 };

export class BundleError extends CanopyError {
  constructor(message: string) {
    super('bundle', message);
  }
}

export async function writeArchive(files: ReadonlyMap<string, Buffer>): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    archive.on('end', () => resolve());
    archive.on('error', reject);
  });
  for (const name of [...files.keys()].sort()) {
    const data = files.get(name) ?? Buffer.alloc(0);
    // A fixed mtime and mode: the same files give the same bytes.
    await new Promise<void>((resolve, reject) => archive.entry({ name, size: data.length, mode: 0o644, mtime: new Date(0) }, data, (error) => (error ? reject(error) : resolve())));
  }
  archive.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

function checkName(name: string): void {
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) throw new BundleError(`the bundle holds an absolute path: ${name}`);
  if (name.split('/').includes('..')) throw new BundleError(`the bundle holds a path that climbs out of it: ${name}`);
  if (name === '' || name.includes('\0')) throw new BundleError('the bundle holds an entry without a valid name');
}

export async function readArchive(bytes: Buffer): Promise<Map<string, Buffer>> {
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes, { maxOutputLength: LIMITS.totalBytes + 1024 * 1024 });
  } catch (error) {
    throw new BundleError(`the bundle is not a gzipped tar: ${messageOf(error)}`);
  }
  const files = new Map<string, Buffer>();
  const reader = extract();
  let total = 0;
  const done = new Promise<void>((resolve, reject) => {
    reader.on('entry', (header, stream, next) => {
      const fail = (error: Error) => {
        stream.resume();
        reject(error);
      };
      const name = header.name.replace(/^\.\//, '');
      try {
        checkName(name);
        if (header.type === 'directory') {
          stream.resume();
          next();
          return;
        }
        if (header.type !== 'file' && header.type !== 'contiguous-file') throw new BundleError(`the bundle holds a ${header.type} (${name}): only plain files are allowed`);
        if (header.size > LIMITS.fileBytes) throw new BundleError(`${name} is ${header.size} bytes, over the limit of ${LIMITS.fileBytes}`);
        if (files.has(name)) throw new BundleError(`the bundle holds ${name} twice`);
        if (files.size >= LIMITS.files) throw new BundleError(`the bundle holds more than ${LIMITS.files} files`);
      } catch (error) {
        fail(error as Error);
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
      stream.on('end', () => {
        const data = Buffer.concat(chunks);
        total += data.length;
        if (total > LIMITS.totalBytes) return fail(new BundleError(`the bundle is over ${LIMITS.totalBytes} bytes`));
        files.set(name, data);
        next();
      });
      stream.on('error', reject);
    });
    reader.on('finish', () => resolve());
    reader.on('error', (error: Error) => reject(error instanceof BundleError ? error : new BundleError(`the bundle is not a valid tar: ${error.message}`)));
  });
  reader.end(tar);
  await done;
  return files;
}
