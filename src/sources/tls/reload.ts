// Serving-certificate rotation without a restart: a source (files that cert-manager or a Secret volume
// rewrites, or the bootstrap Secret) is re-read on an interval, and a new, checked pair is swapped into
// the listening server. Connections already open keep their handshake; new ones get the new
// certificate, so no request fails across a rotation. A pair that does not check out (half-written
// files, a key that does not match) is refused and the current one keeps serving.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../../operations/decision-log/index.js';
import type { KeyPairPem } from './certificates.js';
import { messageOf } from '../../operations/errors/index.js';
import { Poller } from '../../operations/poll/index.js';

/** Why a certificate and key cannot serve, or undefined when they can. */
export function servingPairProblem(pair: KeyPairPem, now = Date.now()): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.cert);
  } catch (error) {
    return `the certificate does not parse (${messageOf(error)})`;
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(pair.key))) return 'the key does not belong to the certificate';
  } catch (error) {
    return `the key does not parse (${messageOf(error)})`;
  }
  if (Date.parse(cert.validTo) <= now) return `the certificate expired at ${cert.validTo}`;
  return undefined;
}

const fingerprintOf = (pair: KeyPairPem): string => createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');

/** Reads a certificate and key from files, as mounted from a Secret. */
export function fileSource(certFile: string, keyFile: string): () => Promise<KeyPairPem> {
  return async () => {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    return { cert, key };
  };
}

export interface ReloaderOptions {
  /** Where the pair comes from; re-read every interval. */
  read: () => Promise<KeyPairPem>;
  /** Puts a checked new pair into service. */
  apply: (pair: KeyPairPem) => void;
  intervalMs: number;
  logger: Logger;
  /** For logs: "files /etc/canopy/tls/tls.crt" or "Secret canopy-system/canopy-tls". */
  describe: string;
}

export interface ReloaderStatus {
  source: string;
  /** sha256 of the serving certificate's DER, as `openssl x509 -fingerprint -sha256` shows it. */
  certificate: string;
  notAfter: string;
  reloads: number;
  lastError?: string;
}

export class CertificateReloader {
  private fingerprint = '';
  private readonly poller: Poller;
  private state: ReloaderStatus;

  constructor(
    private readonly options: ReloaderOptions,
    current: KeyPairPem,
  ) {
    this.fingerprint = fingerprintOf(current);
    this.state = { source: options.describe, ...describeCertificate(current), reloads: 0 };
    this.poller = new Poller({
      intervalMs: options.intervalMs,
      run: async () => void (await this.check()),
      onError: (error) => options.logger.error({ reason: messageOf(error) }, 'serving certificate check failed'),
    });
  }

  /** Re-reads the source every interval (none when the interval is 0). */
  start(): void {
    this.poller.start();
  }

  stop(): void {
    this.poller.stop();
  }

  status(): ReloaderStatus {
    return this.state;
  }

  /** Re-reads the source once; true when a new certificate went into service. */
  async check(): Promise<boolean> {
    let pair: KeyPairPem;
    try {
      pair = await this.options.read();
    } catch (error) {
      return this.refuse(`cannot read the serving certificate from ${this.options.describe}: ${messageOf(error)}`);
    }
    const fingerprint = fingerprintOf(pair);
    if (fingerprint === this.fingerprint) return false;
    const problem = servingPairProblem(pair);
    if (problem) return this.refuse(`new serving certificate from ${this.options.describe} refused: ${problem}; the current one keeps serving`);
    this.options.apply(pair);
    this.fingerprint = fingerprint;
    this.state = { source: this.options.describe, ...describeCertificate(pair), reloads: this.state.reloads + 1 };
    this.options.logger.info({ certificate: this.state.certificate, notAfter: this.state.notAfter, source: this.options.describe }, 'serving certificate reloaded');
    return true;
  }

  private refuse(message: string): false {
    if (this.state.lastError !== message) this.options.logger.warn(message);
    this.state = { ...this.state, lastError: message };
    return false;
  }
}

function describeCertificate(pair: KeyPairPem): { certificate: string; notAfter: string } {
  try {
    const cert = new X509Certificate(pair.cert);
    return { certificate: cert.fingerprint256, notAfter: new Date(cert.validTo).toISOString() };
  } catch {
    return { certificate: 'unreadable', notAfter: '' };
  }
}
