// TLS for the webhook: a CA, serving certificates, the state folder `canopy serve` keeps them in, the
// in-cluster bootstrap through a Secret, and reloading a rotated certificate without a restart.
export {
  caBundleOf,
  createCertificateAuthority,
  issueClientCertificate,
  issueServingCertificate,
  type KeyPairPem,
  type ServingCertificateOptions,
} from './certificates.js';
export { ensureCertificates, CA_CERT_FILE, CA_KEY_FILE, TLS_CERT_FILE, TLS_KEY_FILE, type CertificateFiles } from './state.js';
export { TlsBootstrap, type BootstrapResult, type BootstrapOptions } from './bootstrap.js';
export { CertificateReloader, fileSource, servingPairProblem, type ReloaderOptions, type ReloaderStatus } from './reload.js';

/** Names a webhook Service `canopy` in namespace `canopy-system` is reached by, plus local ones. */
export function defaultServingHosts(service = 'canopy', namespace = 'canopy-system'): string[] {
  return [
    'localhost',
    '127.0.0.1',
    '::1',
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
}
