// `canopy audit`: existing objects — in clusters and in manifest directories — judged by the webhook's
// own pipeline and policies, reported for people and machines.
import type { Logger } from '../../operations/decision-log/index.js';
import { loadPolicyDirectory } from '../../policy/set/index.js';
import { discoverIdentity, identityFromConfig, IngressInventory, LOGICAL_CLUSTER_ANNOTATION, type FleetConfig } from '../../facts/fleet/index.js';
import type { ClusterInventory } from '../../facts/declared/index.js';
import { KubeClient, loadKubeConfig } from '../../sources/kube/index.js';
import { isIngress } from '../../kubernetes/objects/index.js';
import { AdmissionPipeline } from '../../pipeline/index.js';
import { own, type ClusterIdentity, type WorkspaceInfo } from '../../policy/translate/index.js';
import { planAudit, type AuditConfig, type Environment } from './contexts.js';
import { auditObject } from './evaluate.js';
import { kindsForPolicies, parseKinds, type KindInfo } from './kinds.js';
import { ReportBuilder, type AuditReport } from './report.js';
import { clusterItems, manifestItems, type AuditItem } from './sources.js';
import { policyReports, type PolicyReportObject } from './formats.js';
import { PodSecurityAuditor } from './pod-security.js';
import { messageOf } from '../../operations/errors/index.js';

export { AuditError, parseConfigArgument, type AuditConfig } from './contexts.js';
export { decisionSummaryText, summariseDecisions, type DecisionSummary } from './decisions.js';
export { htmlReport, jsonReport, markdownReport, policyReports, policyReportYaml, textReport, MAX_RESULTS_PER_REPORT, type PolicyReportObject } from './formats.js';
export { failsAt, type AuditReport, type Counts } from './report.js';
export { KNOWN_KINDS, kindsForPolicies, parseKinds, type KindInfo } from './kinds.js';
export type { AppliedException, ListedException, NamespaceReadiness, PodSecuritySection, PodSecurityStanding } from './pod-security.js';

export interface AuditOptions {
  policies: string;
  contexts: string[];
  allContexts: boolean;
  kubeconfig?: string;
  manifests: string[];
  kinds?: string;
  /** The --config files: one without a context (the manifests and every other context), and contexts' own. */
  configs?: AuditConfig[];
  logger: Logger;
  /** Called every hundred objects, for a progress display. */
  progress?: (objects: number) => void;
  /** Where $KUBECONFIG and an in-cluster service are looked for (default: the process's environment). */
  env?: Environment;
}

export interface AuditRun {
  report: AuditReport;
  /** The clusters reached, by identity name, for --apply-reports. */
  clients: Map<string, KubeClient>;
}

/** The kcp workspace of an object, from its logical cluster annotation and the config's mapping. */
function workspaceOf(config: FleetConfig, object: Record<string, unknown>): WorkspaceInfo | undefined {
  const annotations = ((object['metadata'] ?? {}) as { annotations?: Record<string, string> }).annotations ?? {};
  const logicalCluster = own(annotations, LOGICAL_CLUSTER_ANNOTATION);
  const path = logicalCluster ? own(config.kcp?.logicalClusters, logicalCluster) : undefined;
  return logicalCluster && path ? { path, logicalCluster, labels: { ...config.kcp?.workspaces } } : undefined;
}

interface Judge {
  pipeline: AdmissionPipeline;
  podSecurity: PodSecurityAuditor | undefined;
}

async function audit(builder: ReportBuilder, judge: Judge, items: AsyncIterable<AuditItem>, facts: (item: AuditItem) => Parameters<typeof auditObject>[2], progress?: (n: number) => void): Promise<void> {
  let seen = 0;
  for await (const item of items) {
    builder.add(auditObject(judge.pipeline, item, facts(item), judge.podSecurity));
    seen += 1;
    if (progress && seen % 100 === 0) progress(seen);
  }
}

export async function runAudit(options: AuditOptions): Promise<AuditRun> {
  // What to audit, checked before anything is read: an unknown context or a misplaced --config stops here.
  const plan = planAudit(options);
  const pipeline = new AdmissionPipeline();
  const checked = await loadPolicyDirectory(options.policies);
  const set = await pipeline.activate(checked);
  const kinds: KindInfo[] = options.kinds ? parseKinds(options.kinds) : kindsForPolicies(set);
  const builder = new ReportBuilder();
  // Pod Security: the same policies without the data's exceptions tell what an exception lets through.
  const podSecurity = await PodSecurityAuditor.create(set, async () => {
    const unexcepted = new AdmissionPipeline();
    const data = checked.podSecurity;
    await unexcepted.activate({ ...checked, ...(data ? { podSecurity: { ...data, exceptions: [] } } : {}) });
    return unexcepted;
  });
  if (podSecurity) builder.podSecurity(podSecurity.exceptions);
  const judge: Judge = { pipeline, podSecurity };
  // A cluster's Ingresses are listed only where an audited Ingress can need them (a fact reads inventory).
  const needsIngresses = kinds.some((kind) => isIngress(kind.group, kind.kind)) && set.facts.declarations.some((declaration) => declaration.expression.variables.has('inventory'));
  const clients = new Map<string, KubeClient>();
  /** Identity name → the context that has it: two clusters must not share a report. */
  const audited = new Map<string, string>();

  for (const { context, config } of plan.contexts) {
    try {
      const client = new KubeClient(loadKubeConfig({ ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}), context }));
      // The namespaces first: a cluster out of reach fails here, once, before its identity sources are tried.
      const namespaces = new Map<string, Record<string, string>>();
      for (const ns of (await client.list<{ metadata?: { name?: string; labels?: Record<string, string> } }>('/api/v1/namespaces')).items) {
        namespaces.set(ns.metadata?.name ?? '', ns.metadata?.labels ?? {});
      }
      // The identity `canopy serve` would have: the config, then the cluster's ClusterProperty / ClusterProfile.
      const discovered = await discoverIdentity(config, client, options.logger);
      for (const problem of discovered.problems) builder.error(`cluster ${context}: ${problem}`);
      const identity = discovered.identity;
      const other = audited.get(identity.name);
      if (other !== undefined) {
        builder.error(`cluster ${context}: not audited: its identity names cluster ${identity.name}, as context ${other}'s does; give each its own name (--config CONTEXT=FILE, or a ClusterProperty)`);
        continue;
      }
      audited.set(identity.name, context);
      clients.set(identity.name, client);
      const inventory = needsIngresses ? await clusterIngresses(client) : NO_INVENTORY;
      const facts = (item: AuditItem) => {
        const namespace = ((item.object['metadata'] ?? {}) as { namespace?: string }).namespace;
        const labels = namespace ? namespaces.get(namespace) : undefined;
        const workspace = workspaceOf(config, item.object);
        return { cluster: identity, inventory, ...(labels ? { namespaceLabels: labels } : {}), ...(workspace ? { workspace } : {}) };
      };
      await audit(builder, judge, clusterItems(client, identity.name, kinds, (m) => builder.error(m)), facts, options.progress);
    } catch (error) {
      // One cluster out of reach does not stop the others.
      builder.error(`cluster ${context}: ${messageOf(error)}`);
    }
  }

  // Manifests after the clusters: when they carry the name of an audited cluster, they are reported apart
  // from it, so that --apply-reports never writes a manifest's findings into the cluster.
  const config = plan.manifests;
  const name = config.cluster.name ?? 'manifests';
  const cluster: ClusterIdentity = { ...identityFromConfig(config).identity, name };
  const reportedAs = audited.has(name) ? `${name} (manifests)` : name;
  // The namespaces' labels, as a cluster's come from its Namespace objects, and the Ingresses, as a
  // cluster's informer has them: those of the manifests (a first pass over them, keeping only these;
  // unreadable documents are reported by the second).
  const namespaces = new Map<string, Record<string, string>>();
  const ingresses: Record<string, unknown>[] = [];
  for (const root of options.manifests) {
    try {
      for await (const item of manifestItems(root, reportedAs, () => undefined)) {
        const metadata = (item.object['metadata'] ?? {}) as { name?: string; labels?: Record<string, string> };
        if (item.object['kind'] === 'Namespace' && item.object['apiVersion'] === 'v1' && metadata.name) namespaces.set(metadata.name, { ...metadata.labels });
        if (item.object['kind'] === 'Ingress' && item.object['apiVersion'] === 'networking.k8s.io/v1') ingresses.push(item.object);
      }
    } catch {
      // Reported by the audit of this root below.
    }
  }
  const inventory = new IngressInventory({ objects: ingresses });
  for (const root of options.manifests) {
    try {
      await audit(builder, judge, manifestItems(root, reportedAs, (m) => builder.error(m)), (item) => {
        const workspace = workspaceOf(config, item.object);
        const namespace = ((item.object['metadata'] ?? {}) as { namespace?: string }).namespace;
        const labels = namespace ? namespaces.get(namespace) : undefined;
        return { cluster, inventory, ...(labels ? { namespaceLabels: labels } : {}), ...(workspace ? { workspace } : {}) };
      }, options.progress);
    } catch (error) {
      builder.error(`${root}: ${messageOf(error)}`);
    }
  }
  return { report: builder.build(), clients };
}

const NO_INVENTORY: ClusterInventory = { ingressesWithHosts: () => [] };

/** A cluster's Ingresses, listed once; when they cannot be, the facts that read them fail closed, saying why. */
async function clusterIngresses(client: KubeClient): Promise<ClusterInventory> {
  try {
    return new IngressInventory({ objects: (await client.list<Record<string, unknown>>('/apis/networking.k8s.io/v1/ingresses')).items });
  } catch (error) {
    const reason = `the cluster's Ingresses could not be listed (${messageOf(error)})`;
    return { ingressesWithHosts: () => reason };
  }
}

const POLICY_REPORT_GROUP = '/apis/wgpolicyk8s.io/v1alpha2';
const REPORT_RESOURCE = { PolicyReport: 'policyreports', ClusterPolicyReport: 'clusterpolicyreports' } as const;

/** The report resources a cluster does not serve, from the wgpolicyk8s.io/v1alpha2 discovery document. */
async function missingReportResources(client: KubeClient, needed: string[]): Promise<string[]> {
  try {
    const served = await client.getJson<{ resources?: { name?: string }[] }>(POLICY_REPORT_GROUP);
    const names = new Set((served.resources ?? []).map((resource) => resource.name));
    return needed.filter((resource) => !names.has(resource));
  } catch (error) {
    // No CRD of the group: the API server does not know the group version at all.
    if ((error as { statusCode?: number }).statusCode === 404) return needed;
    throw error;
  }
}

/**
 * Writes each cluster's PolicyReports to that cluster (server-side apply). A cluster without the
 * PolicyReport CRDs gets one line saying what to install, and no write.
 */
export async function applyReports(run: AuditRun): Promise<string[]> {
  const problems: string[] = [];
  const byCluster = new Map<string, PolicyReportObject[]>();
  for (const { cluster, report } of policyReports(run.report)) {
    if (run.clients.has(cluster)) byCluster.set(cluster, [...(byCluster.get(cluster) ?? []), report]);
  }
  for (const [cluster, reports] of byCluster) {
    const client = run.clients.get(cluster);
    if (!client) continue;
    const needed = [...new Set(reports.map((report) => REPORT_RESOURCE[report.kind]))];
    try {
      const missing = await missingReportResources(client, needed);
      if (missing.length > 0) {
        problems.push(
          `cluster ${cluster}: no PolicyReports written: the PolicyReport CRD (wgpolicyk8s.io/v1alpha2 ${missing.join(', ')}) is not installed; ` +
            'install the PolicyReport and ClusterPolicyReport CRDs of the kubernetes-sigs/wg-policy-prototypes project',
        );
        continue;
      }
    } catch (error) {
      problems.push(`cluster ${cluster}: no PolicyReports written: ${messageOf(error)}`);
      continue;
    }
    for (const report of reports) {
      const path = report.kind === 'PolicyReport'
        ? `${POLICY_REPORT_GROUP}/namespaces/${encodeURIComponent(report.metadata.namespace ?? '')}/policyreports/${report.metadata.name}`
        : `${POLICY_REPORT_GROUP}/clusterpolicyreports/${report.metadata.name}`;
      try {
        await client.apply(path, report);
      } catch (error) {
        problems.push(`cluster ${cluster}: writing ${report.kind} ${report.metadata.name}: ${messageOf(error)}`);
      }
    }
  }
  return problems;
}
