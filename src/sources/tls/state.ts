// The serving certificate `canopy serve` makes for itself when none is given: a CA and a certificate
// in a state folder, reused on the next start while they are valid and cover the names asked for.
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  createCertificateAuthority,
  issueServingCertificate,
  normaliseHost,
  subjectAltNames,
  type KeyPairPem,
} from './certificates.js';

/** Renew a certificate this long before it expires. */
export const RENEW_BEFORE_MS = 30 * 24 * 60 * 60 * 1000;

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';
export const TLS_CERT_FILE = 'tls.crt';
export const TLS_KEY_FILE = 'tls.key';

export interface CertificateFiles {
  caCertPath: string;
  ca: KeyPairPem;
  serving: KeyPairPem;
  /** What was made new on this call: nothing, the serving certificate, or the CA and the certificate. */
  created: 'none' | 'serving' | 'ca-and-serving';
}

async function readPair(dir: string, certFile: string, keyFile: string): Promise<KeyPairPem | undefined> {
  try {
    const [cert, key] = await Promise.all([
      readFile(path.join(dir, certFile), 'utf8'),
      readFile(path.join(dir, keyFile), 'utf8'),
    ]);
    return { cert, key };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function writePair(dir: string, certFile: string, keyFile: string, pair: KeyPairPem): Promise<void> {
  await writeFile(path.join(dir, keyFile), pair.key, { mode: 0o600 });
  await writeFile(path.join(dir, certFile), pair.cert, { mode: 0o644 });
}

function stillValid(cert: X509Certificate, renewBeforeMs = RENEW_BEFORE_MS): boolean {
  return new Date(cert.validTo).getTime() - Date.now() > renewBeforeMs;
}

/** A CA that parses, is a CA, and is not due for renewal. */
export function usableCa(pair: KeyPairPem | undefined, renewBeforeMs = RENEW_BEFORE_MS): pair is KeyPairPem {
  if (!pair) return false;
  try {
    const cert = new X509Certificate(pair.cert);
    return cert.ca && stillValid(cert, renewBeforeMs);
  } catch {
    return false;
  }
}

/** A serving certificate signed by `ca`, covering `hosts`, not due for renewal. */
export function usableServing(pair: KeyPairPem | undefined, ca: KeyPairPem, hosts: string[], renewBeforeMs = RENEW_BEFORE_MS): pair is KeyPairPem {
  if (!pair) return false;
  try {
    const cert = new X509Certificate(pair.cert);
    const caCert = new X509Certificate(ca.cert);
    const names = new Set(subjectAltNames(cert));
    return (
      cert.checkIssued(caCert) &&
      cert.verify(caCert.publicKey) &&
      stillValid(cert, renewBeforeMs) &&
      hosts.every((host) => names.has(normaliseHost(host)))
    );
  } catch {
    return false;
  }
}

/**
 * Returns a CA and a serving certificate for `hosts` from `dir`, making new ones where the files are
 * missing, expiring or do not cover the hosts. The CA is kept whenever it is still good, so the
 * caBundle configured in the API server stays valid across restarts. `renewServing` issues a new
 * serving certificate even when the old one would do.
 */
export async function ensureCertificates(
  dir: string,
  hosts: string[],
  options: { renewServing?: boolean } = {},
): Promise<CertificateFiles> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let created: CertificateFiles['created'] = 'none';
  let ca = await readPair(dir, CA_CERT_FILE, CA_KEY_FILE);
  if (!usableCa(ca)) {
    ca = createCertificateAuthority();
    await writePair(dir, CA_CERT_FILE, CA_KEY_FILE, ca);
    created = 'ca-and-serving';
  }
  let serving = await readPair(dir, TLS_CERT_FILE, TLS_KEY_FILE);
  if (created !== 'none' || options.renewServing || !usableServing(serving, ca, hosts)) {
    serving = issueServingCertificate(ca, { hosts });
    await writePair(dir, TLS_CERT_FILE, TLS_KEY_FILE, serving);
    if (created === 'none') created = 'serving';
  }
  return { caCertPath: path.join(dir, CA_CERT_FILE), ca, serving, created };
}
