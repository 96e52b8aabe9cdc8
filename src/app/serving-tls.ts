// The serving certificate and, for mutual TLS, the client CA: where each comes from, checked at start.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CanopyConfig } from '../operations/config/index.js';
import type { Logger } from '../operations/decision-log/index.js';
import { ConfigError } from '../facts/fleet/index.js';
import type { KubeClient } from '../sources/kube/index.js';
import { defaultServingHosts, ensureCertificates, fileSource, servingPairProblem, TlsBootstrap, type KeyPairPem } from '../sources/tls/index.js';
import { messageOf } from '../operations/errors/index.js';

/** Where the serving certificate comes from, and how a rotated one is picked up. */
export interface ServingTls {
  pair: KeyPairPem;
  note: string;
  /** Re-reads the source; absent for a certificate Canopy generated for itself. */
  reload?: { read: () => Promise<KeyPairPem>; describe: string };
}

/** `cluster`: the API client the TLS bootstrap writes its Secret and caBundles through (see clusterClient). */
export async function servingTls(config: CanopyConfig, logger: Logger, cluster: KubeClient | undefined): Promise<ServingTls> {
  const { certFile, keyFile, bootstrap } = config.tls;
  if (certFile && keyFile) {
    const read = fileSource(certFile, keyFile);
    const pair = await read();
    const problem = servingPairProblem(pair);
    if (problem) throw new ConfigError(certFile, problem);
    return { pair, note: `serving certificate ${certFile}`, reload: { read, describe: `files ${certFile}, ${keyFile}` } };
  }
  if (bootstrap.enabled) {
    if (!cluster) throw new Error('tls.bootstrap needs an API client (clusterClient makes one whenever it is enabled)');
    const tls = new TlsBootstrap(cluster, bootstrap, logger, { extraHosts: config.tls.dnsNames });
    const first = await tls.ensure();
    return {
      pair: first.serving,
      note: `serving certificate from Secret ${tls.secretPath} (${first.outcome}); caBundle kept current in the webhook configurations`,
      reload: { read: async () => (await tls.ensure()).serving, describe: `Secret ${tls.secretPath}` },
    };
  }
  const hosts = [...defaultServingHosts(), ...config.tls.dnsNames];
  const files = await ensureCertificates(path.join(config.stateDir, 'tls'), hosts);
  const made = { none: 'reused', serving: 'serving certificate renewed', 'ca-and-serving': 'generated' }[files.created];
  return { pair: files.serving, note: `CA certificate ${files.caCertPath} (${made})` };
}

/** The client CA for mutual TLS: at least one certificate, or the start is refused. */
export async function readClientCa(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, `tls.clientCaFile cannot be read: ${messageOf(error)}`);
  }
  try {
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    new X509Certificate(text);
  } catch (error) {
    throw new ConfigError(file, `tls.clientCaFile is not a PEM CA certificate: ${messageOf(error)}`);
  }
  return text;
}
