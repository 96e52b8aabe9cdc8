// Canopy's bundle format. A bundle is a .tar.gz of the policy files (schema, policies, data) plus
// manifest.json, which names every file with its SHA-256, the revision, the creation time and the
// source commit; and signature.json, a detached signature of manifest.json (Ed25519 or ECDSA P-256,
// node:crypto) with the signing key's id. Verifying a bundle checks the signature with a trusted key,
// then every file against the manifest, and refuses any file the manifest does not name.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { checkPolicySet, policyFilesOf, policySourceFromFiles, type CheckedPolicySet } from '../../policy/set/index.js';
import { findFiles } from '../files/find-files.js';
import { isExample } from '../../policy/set/index.js';
import { parseTestFile, TEST_FILE } from '../../policy/tests/index.js';
import { BundleError, readArchive, writeArchive } from './archive.js';
import { audienceProblem, type BundleAudience } from './audience.js';
import { messageOf } from '../../operations/errors/index.js';

export const MANIFEST = 'manifest.json';
export const SIGNATURE = 'signature.json';

export interface BundleManifest {
  revision: string;
  /** ISO 8601; what anti-rollback compares. */
  createdAt: string;
  sourceCommit?: string;
  /** Which webhooks may activate it: a channel and/or a selector over the cluster's identity. Absent: any webhook without a channel. */
  audience?: BundleAudience;
  /** The publisher means a set without validating policies: webhooks do not refuse it as empty. */
  allowEmpty?: boolean;
  /** The publisher means the set to deny the webhooks' canary requests: they do not refuse it for that. */
  allowCanaryDenials?: boolean;
  files: { path: string; sha256: string; size: number }[];
}

export interface BuildOptions {
  revision?: string;
  sourceCommit?: string;
  createdAt?: Date;
  audience?: BundleAudience;
  allowEmpty?: boolean;
  allowCanaryDenials?: boolean;
}

export interface BundleSignature {
  keyId: string;
  algorithm: 'ed25519' | 'ecdsa-p256-sha256';
  manifestSha256: string;
  signature: string;
}

export interface VerifiedBundle {
  manifest: BundleManifest;
  keyId: string;
  files: Map<string, string>;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** A key's id: the first 16 hex characters of the SHA-256 of its public key (SPKI DER). */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return sha256(publicKey.export({ type: 'spki', format: 'der' })).slice(0, 16);
}

function algorithmOf(key: KeyObject): BundleSignature['algorithm'] {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256-sha256';
  throw new BundleError(`bundle keys are Ed25519 or ECDSA P-256, not ${key.asymmetricKeyType ?? 'unknown'}`);
}

/** Builds an unsigned bundle from a policy directory, refusing one whose policies do not validate. */
export async function buildBundle(dir: string, options: BuildOptions = {}): Promise<{ bytes: Buffer; manifest: BundleManifest; checked: CheckedPolicySet }> {
  const files = await policyFilesOf(dir);
  const checked = checkPolicySet(policySourceFromFiles(files, dir));
  for (const [name, text] of await testFilesOf(dir)) files.set(name, text);
  if (options.audience) {
    const problem = audienceProblem(options.audience);
    if (problem) throw new BundleError(problem);
  }
  const manifest: BundleManifest = {
    revision: options.revision ?? checked.revision,
    createdAt: (options.createdAt ?? new Date()).toISOString(),
    ...(options.sourceCommit ? { sourceCommit: options.sourceCommit } : {}),
    ...(options.audience && (options.audience.channel !== undefined || options.audience.clusters !== undefined) ? { audience: options.audience } : {}),
    ...(options.allowEmpty ? { allowEmpty: true } : {}),
    ...(options.allowCanaryDenials ? { allowCanaryDenials: true } : {}),
    files: [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, text]) => ({ path, sha256: sha256(text), size: Buffer.byteLength(text) })),
  };
  const contents = new Map<string, Buffer>([...files.entries()].map(([path, text]) => [path, Buffer.from(text)]));
  contents.set(MANIFEST, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
  return { bytes: await writeArchive(contents), manifest, checked };
}

/**
 * The policy directory's tests, which the webhook runs before it activates the bundle: every
 * (non-example) `*.test.yaml` and the review files its cases name, by relative POSIX path. A test
 * file that cannot be read, or a review outside the directory or missing, stops the build.
 */
async function testFilesOf(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const relative = (file: string) => path.relative(dir, file).split(path.sep).join('/');
  const found = (await findFiles(dir, (name) => TEST_FILE.test(name))).filter((file) => !isExample(relative(file)));
  for (const file of found) {
    const text = await readFile(file, 'utf8');
    const parsed = parseTestFile(text, file, dir);
    const problem = parsed.problems[0];
    if (problem) throw new BundleError(`${problem.position.file}:${problem.position.line}: ${problem.message}`);
    files.set(relative(file), text);
    for (const testCase of parsed.cases) {
      if (!testCase.review) continue;
      const review = path.resolve(path.dirname(file), testCase.review);
      try {
        files.set(relative(review), await readFile(review, 'utf8'));
      } catch (error) {
        throw new BundleError(`${relative(file)}:${testCase.line}: case "${testCase.name}": cannot read its review ${testCase.review}: ${messageOf(error)}`);
      }
    }
  }
  return files;
}

/** Adds (or replaces) the signature of a bundle, with a private key in PEM. */
export async function signBundle(bytes: Buffer, privateKeyPem: string): Promise<{ bytes: Buffer; keyId: string }> {
  const key = createPrivateKey(privateKeyPem);
  const contents = await readArchive(bytes);
  const manifest = contents.get(MANIFEST);
  if (!manifest) throw new BundleError(`the bundle has no ${MANIFEST}`);
  const algorithm = algorithmOf(key);
  const signature: BundleSignature = {
    keyId: keyIdOf(key),
    algorithm,
    manifestSha256: sha256(manifest),
    signature: sign(algorithm === 'ed25519' ? null : 'sha256', manifest, key).toString('base64'),
  };
  contents.set(SIGNATURE, Buffer.from(`${JSON.stringify(signature, null, 2)}\n`));
  return { bytes: await writeArchive(contents), keyId: signature.keyId };
}

export function readPublicKeys(pems: readonly string[]): KeyObject[] {
  return pems.map((pem) => {
    const key = createPublicKey(pem);
    algorithmOf(key);
    return key;
  });
}

function parseJson<T>(data: Buffer | undefined, name: string): T {
  if (!data) throw new BundleError(`the bundle has no ${name}`);
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (error) {
    throw new BundleError(`${name} is not JSON: ${messageOf(error)}`);
  }
}

/** Reads a bundle without trusting it: for `canopy bundle inspect`. */
export async function inspectBundle(
  bytes: Buffer,
): Promise<{ manifest: BundleManifest; signature?: BundleSignature; names: string[]; contents: Map<string, Buffer> }> {
  const contents = await readArchive(bytes);
  const signature = contents.has(SIGNATURE) ? parseJson<BundleSignature>(contents.get(SIGNATURE), SIGNATURE) : undefined;
  return { manifest: parseJson<BundleManifest>(contents.get(MANIFEST), MANIFEST), ...(signature ? { signature } : {}), names: [...contents.keys()].sort(), contents };
}

/** Checks the signature with the trusted keys, then every file. Throws BundleError with the reason. */
export async function verifyBundle(bytes: Buffer, keys: readonly KeyObject[]): Promise<VerifiedBundle> {
  const contents = await readArchive(bytes);
  const manifestBytes = contents.get(MANIFEST);
  if (!manifestBytes) throw new BundleError(`the bundle has no ${MANIFEST}`);
  if (!contents.has(SIGNATURE)) throw new BundleError('the bundle is not signed');
  const signature = parseJson<BundleSignature>(contents.get(SIGNATURE), SIGNATURE);
  const key = keys.find((k) => keyIdOf(k) === signature.keyId);
  if (!key) throw new BundleError(`the bundle is signed by key ${signature.keyId}, which is not trusted`);
  if (signature.manifestSha256 !== sha256(manifestBytes)) throw new BundleError(`${MANIFEST} does not match the signed digest`);
  const valid = verify(algorithmOf(key) === 'ed25519' ? null : 'sha256', manifestBytes, key, Buffer.from(signature.signature, 'base64'));
  if (!valid) throw new BundleError(`the signature does not verify with key ${signature.keyId}`);
  const manifest = parseJson<BundleManifest>(manifestBytes, MANIFEST);
  if (typeof manifest.revision !== 'string' || Number.isNaN(Date.parse(manifest.createdAt)) || !Array.isArray(manifest.files)) {
    throw new BundleError(`${MANIFEST} lacks a revision, a creation time or its files`);
  }
  if (manifest.audience !== undefined) {
    const problem = audienceProblem(manifest.audience);
    if (problem) throw new BundleError(`${MANIFEST}: ${problem}`);
  }
  const named = new Set(manifest.files.map((f) => f.path));
  for (const name of contents.keys()) {
    if (name !== MANIFEST && name !== SIGNATURE && !named.has(name)) throw new BundleError(`${name} is in the bundle but not in the signed file list`);
  }
  const files = new Map<string, string>();
  for (const entry of manifest.files) {
    const data = contents.get(entry.path);
    if (!data) throw new BundleError(`${entry.path} is in the signed file list but not in the bundle`);
    if (sha256(data) !== entry.sha256) throw new BundleError(`${entry.path} does not match its signed SHA-256`);
    files.set(entry.path, data.toString('utf8'));
  }
  return { manifest, keyId: signature.keyId, files };
}

export { BundleError } from './archive.js';
