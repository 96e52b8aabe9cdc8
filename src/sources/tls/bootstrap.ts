// `canopy serve --bootstrap-tls`: in a cluster, Canopy keeps its own CA and serving certificate in a
// Secret and keeps the caBundle of its own webhook configurations trusting that CA.
//
// Several replicas start at once and share one Secret. None overwrites what another already serves:
// the Secret is created only if absent (409 AlreadyExists → adopt the winner's), and replaced only
// with the resourceVersion it was read at (409 Conflict → re-read and adopt). A renewal happens when
// the certificate is within 30 days of expiry and keeps the CA, so the certificate the others still
// serve stays trusted until they pick up the new one on their next check. A renewed CA is put into the
// caBundle beside the previous one, for the same reason.
//
// It talks to the API server through KubeClient, as everything else in Canopy does: one transport, one
// set of deadlines and error messages.
import { X509Certificate } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, KubeClient, type JsonPatchOperation } from '../kube/index.js';
import type { BootstrapTlsConfig } from '../../operations/config/index.js';
import type { Logger } from '../../operations/decision-log/index.js';
import { caBundleOf, createCertificateAuthority, issueServingCertificate, type KeyPairPem } from './certificates.js';
import { RENEW_BEFORE_MS, usableCa, usableServing } from './state.js';
import { messageOf } from '../../operations/errors/index.js';

const ADMISSION_REGISTRATION = '/apis/admissionregistration.k8s.io/v1';
const CA_CERT = 'ca.crt';
const CA_KEY = 'ca.key';
const PREVIOUS_CA_CERT = 'ca-previous.crt';
const TLS_CERT = 'tls.crt';
const TLS_KEY = 'tls.key';

/** The fields of a Secret the bootstrap reads and writes. */
interface Secret {
  apiVersion?: string;
  kind?: string;
  type?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  data?: Record<string, string>;
}

/** The fields of a Validating- or MutatingWebhookConfiguration the bootstrap reads. */
interface WebhookConfiguration {
  metadata?: { resourceVersion?: string };
  webhooks?: { clientConfig?: { caBundle?: string } }[];
}

type WebhookKind = 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';

/** What the Secret holds. */
interface Material {
  ca: KeyPairPem;
  /** The CA before the last CA renewal: trusted until it expires, as certificates it signed may still serve. */
  previousCa?: string;
  serving: KeyPairPem;
}

export interface BootstrapResult {
  serving: KeyPairPem;
  /** The CA certificates (PEM) the webhooks' caBundle must hold. */
  caBundle: string;
  /** What this call did to the Secret. */
  outcome: 'created' | 'adopted' | 'reused' | 'renewed';
}

export interface BootstrapOptions {
  /** DNS names for the serving certificate beyond the Service's. */
  extraHosts?: string[];
  renewBeforeMs?: number;
}

const decode = (value: string | undefined): string | undefined => (value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8'));
const encode = (value: string): string => Buffer.from(value, 'utf8').toString('base64');

function isStillValid(pem: string | undefined): pem is string {
  if (!pem) return false;
  try {
    return Date.parse(new X509Certificate(pem).validTo) > Date.now();
  } catch {
    return false;
  }
}

function statusOf(error: unknown): number | undefined {
  return error instanceof KubeApiError ? error.statusCode : undefined;
}

/** `HTTP 403: <the API server's message>` for a refusal, else what went wrong (a deadline, a refused connection). */
function describeError(error: unknown): string {
  if (error instanceof KubeApiError && error.statusCode !== undefined) {
    return `HTTP ${error.statusCode}${error.serverMessage ? `: ${error.serverMessage}` : ''}`;
  }
  return messageOf(error);
}

export class TlsBootstrap {
  private readonly client: KubeClient;
  readonly hosts: string[];
  private readonly renewBeforeMs: number;
  /** Webhook configurations found missing, so that each absence is logged once, not every check. */
  private readonly missing = new Set<string>();

  constructor(
    /** The cluster: its kubeconfig, or a client already connected to it. */
    kube: KubeConfig | KubeClient,
    private readonly config: BootstrapTlsConfig,
    private readonly logger: Logger,
    options: BootstrapOptions = {},
  ) {
    this.client = kube instanceof KubeClient ? kube : new KubeClient(kube);
    const { service, namespace } = config;
    this.hosts = [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, ...(options.extraHosts ?? [])];
    this.renewBeforeMs = options.renewBeforeMs ?? RENEW_BEFORE_MS;
  }

  get secretPath(): string {
    return `${this.config.namespace}/${this.config.secretName}`;
  }

  private get secretsUrl(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.config.namespace)}/secrets`;
  }

  private get secretUrl(): string {
    return `${this.secretsUrl}/${encodeURIComponent(this.config.secretName)}`;
  }

  /**
   * The serving certificate to use now: the Secret's, created or renewed when needed, with the
   * webhooks' caBundle made to trust it. Throws when the API server cannot be reached or refuses.
   */
  async ensure(): Promise<BootstrapResult> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const result = await this.settle();
      if (!result) continue; // another replica wrote the Secret between our read and our write
      await this.trustInWebhooks(result.caBundle);
      return result;
    }
    throw new Error(`Secret ${this.secretPath} kept changing while Canopy tried to settle on a certificate`);
  }

  /** One read-decide-write round on the Secret; undefined when a concurrent writer won. */
  private async settle(): Promise<BootstrapResult | undefined> {
    const secret = await this.readSecret();
    if (!secret) {
      const material = this.issue(undefined);
      try {
        await this.client.create<Secret>(this.secretsUrl, this.toSecret(material));
      } catch (error) {
        if (statusOf(error) === 409) return undefined;
        throw new Error(`cannot create Secret ${this.secretPath}: ${describeError(error)}`);
      }
      this.logger.info({ secret: this.secretPath }, 'bootstrapped a CA and serving certificate');
      return { serving: material.serving, caBundle: bundleOf(material), outcome: 'created' };
    }
    const current = this.fromSecret(secret);
    if (current && usableCa(current.ca, this.renewBeforeMs) && usableServing(current.serving, current.ca, this.hosts, this.renewBeforeMs)) {
      return { serving: current.serving, caBundle: bundleOf(current), outcome: 'reused' };
    }
    const renewed = this.issue(current);
    try {
      await this.client.replace<Secret>(this.secretUrl, this.toSecret(renewed, secret));
    } catch (error) {
      if (statusOf(error) === 409) return undefined;
      throw new Error(`cannot renew the certificate in Secret ${this.secretPath}: ${describeError(error)}`);
    }
    this.logger.info({ secret: this.secretPath, caRenewed: renewed.ca.cert !== current?.ca.cert }, 'renewed the bootstrapped serving certificate');
    return { serving: renewed.serving, caBundle: bundleOf(renewed), outcome: 'renewed' };
  }

  private async readSecret(): Promise<Secret | undefined> {
    try {
      return await this.client.getJson<Secret>(this.secretUrl);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw new Error(`cannot read Secret ${this.secretPath}: ${describeError(error)}`);
    }
  }

  /** New material: the current CA when it is still good (else a new one, the old kept as previous), a new serving certificate. */
  private issue(current: Material | undefined): Material {
    if (current && usableCa(current.ca, this.renewBeforeMs)) {
      return { ca: current.ca, ...(current.previousCa ? { previousCa: current.previousCa } : {}), serving: issueServingCertificate(current.ca, { hosts: this.hosts }) };
    }
    const ca = createCertificateAuthority();
    const previousCa = isStillValid(current?.ca.cert) ? current?.ca.cert : undefined;
    return { ca, ...(previousCa ? { previousCa } : {}), serving: issueServingCertificate(ca, { hosts: this.hosts }) };
  }

  private fromSecret(secret: Secret): Material | undefined {
    const data = secret.data ?? {};
    const [caCert, caKey, cert, key] = [CA_CERT, CA_KEY, TLS_CERT, TLS_KEY].map((name) => decode(data[name]));
    if (!caCert || !caKey || !cert || !key) return undefined;
    const previousCa = decode(data[PREVIOUS_CA_CERT]);
    return { ca: { cert: caCert, key: caKey }, serving: { cert, key }, ...(isStillValid(previousCa) ? { previousCa } : {}) };
  }

  private toSecret(material: Material, existing?: Secret): Secret {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name: this.config.secretName,
        namespace: this.config.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'canopy', 'app.kubernetes.io/component': 'webhook-tls' },
        // The resourceVersion read makes the replace conditional: a concurrent renewal gets a 409.
        ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      data: {
        [CA_CERT]: encode(material.ca.cert),
        [CA_KEY]: encode(material.ca.key),
        [TLS_CERT]: encode(material.serving.cert),
        [TLS_KEY]: encode(material.serving.key),
        ...(material.previousCa ? { [PREVIOUS_CA_CERT]: encode(material.previousCa) } : {}),
      },
    };
  }

  /**
   * Makes every webhook of Canopy's own configurations trust `caBundle`. The patch is tested against
   * the resourceVersion read, so it never overwrites a change made meanwhile: it re-reads and retries.
   */
  private async trustInWebhooks(caBundle: string): Promise<void> {
    const wanted = caBundleOf(caBundle);
    const targets: { kind: WebhookKind; name: string | undefined }[] = [
      { kind: 'ValidatingWebhookConfiguration', name: this.config.validatingWebhook },
      { kind: 'MutatingWebhookConfiguration', name: this.config.mutatingWebhook },
    ];
    for (const target of targets) {
      if (target.name) await this.trustIn(target.kind, target.name, wanted);
    }
  }

  /** One webhook configuration; a patch refused because another replica changed it meanwhile is re-read and retried. */
  private async trustIn(kind: WebhookKind, name: string, wanted: string): Promise<void> {
    const where = `${kind} ${name}`;
    const url = `${ADMISSION_REGISTRATION}/${kind.toLowerCase()}s/${encodeURIComponent(name)}`;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      let current: WebhookConfiguration;
      try {
        current = await this.client.getJson<WebhookConfiguration>(url);
      } catch (error) {
        if (statusOf(error) !== 404) throw new Error(`cannot read ${where}: ${describeError(error)}`);
        // Not installed (yet): the next check looks again.
        if (!this.missing.has(where)) this.logger.warn(`${where} does not exist; its caBundle will be set once it does`);
        this.missing.add(where);
        return;
      }
      this.missing.delete(where);
      const operations = (current.webhooks ?? []).flatMap((webhook, index): JsonPatchOperation[] =>
        webhook.clientConfig?.caBundle === wanted ? [] : [{ op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: wanted }],
      );
      if (operations.length === 0) return;
      const patch: JsonPatchOperation[] = [{ op: 'test', path: '/metadata/resourceVersion', value: current.metadata?.resourceVersion ?? '' }, ...operations];
      try {
        await this.client.jsonPatch(url, patch);
      } catch (error) {
        // 409 or 422 (the test operation failed): changed since we read it.
        if (statusOf(error) === 409 || statusOf(error) === 422) continue;
        throw new Error(`cannot set the caBundle of ${where}: ${describeError(error)}`);
      }
      this.logger.info({ webhookConfiguration: where, webhooks: operations.length }, 'caBundle updated');
      return;
    }
    throw new Error(`${where} kept changing while Canopy tried to set its caBundle`);
  }
}

function bundleOf(material: Material): string {
  return material.previousCa ? `${material.ca.cert.trimEnd()}\n${material.previousCa.trimEnd()}\n` : material.ca.cert;
}
