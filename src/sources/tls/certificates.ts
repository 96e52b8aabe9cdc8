// Certificate authority and serving certificates for the webhook. node-forge builds and signs the X.509
// certificates (Node has no API for that); node:crypto generates the keys, natively and fast.
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface KeyPairPem {
  cert: string;
  key: string;
}

export interface ServingCertificateOptions {
  /** DNS names and IP addresses the certificate is valid for; IPs are recognised and put in IP SANs. */
  hosts: string[];
  days?: number;
  commonName?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function newRsaKey(): forge.pki.rsa.PrivateKey {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return forge.pki.privateKeyFromPem(privateKey);
}

function newCertificate(publicKey: forge.pki.PublicKey, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive serial number: clear the top bit so DER does not read it as negative.
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  cert.serialNumber = serial.toString('hex');
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 5 * 60 * 1000); // tolerate small clock skew
  cert.validity.notAfter = new Date(now + days * DAY_MS);
  return cert;
}

export function createCertificateAuthority(commonName = 'Canopy webhook CA', days = 3650): KeyPairPem {
  const key = newRsaKey();
  const publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  const cert = newCertificate(publicKey, days);
  const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'Canopy' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(key) };
}

export function issueServingCertificate(ca: KeyPairPem, options: ServingCertificateOptions): KeyPairPem {
  if (options.hosts.length === 0) throw new Error('a serving certificate needs at least one DNS name or IP');
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const key = newRsaKey();
  const cert = newCertificate(forge.pki.setRsaPublicKey(key.n, key.e), options.days ?? 365);
  cert.setSubject([{ name: 'commonName', value: options.commonName ?? options.hosts[0] ?? 'canopy' }]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = options.hosts.map((host) => (isIP(host) ? { type: 7, ip: host } : { type: 2, value: host }));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(key) };
}

/**
 * A client certificate (extKeyUsage clientAuth) for a caller of the webhooks under mutual TLS: the API
 * server presents it through its admission kubeconfig.
 */
export function issueClientCertificate(ca: KeyPairPem, commonName: string, days = 365): KeyPairPem {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const key = newRsaKey();
  const cert = newCertificate(forge.pki.setRsaPublicKey(key.n, key.e), days);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(key) };
}

/** The webhook configuration's caBundle: the CA certificate PEM, base64-encoded. */
export function caBundleOf(caCertPem: string): string {
  return Buffer.from(caCertPem, 'utf8').toString('base64');
}

/** The hosts a certificate's SAN extension names, as plain strings ("localhost", "127.0.0.1", "::1"). */
export function subjectAltNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
    .map((host) => normaliseIp(host));
}

/** Node prints IPv6 SANs in full form (0:0:0:0:0:0:0:1); compare them in their canonical short form. */
function normaliseIp(host: string): string {
  if (isIP(host) !== 6) return host;
  const url = new URL(`http://[${host}]/`);
  return url.hostname.replace(/^\[|\]$/g, '');
}

export function normaliseHost(host: string): string {
  return normaliseIp(host.toLowerCase());
}
