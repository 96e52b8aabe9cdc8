// `canopy audit`: existing objects — in clusters and in manifest directories — judged by the webhook's
// own pipeline and policies, reported for people and machines.
import type { Logger } from '../decision-log/index.js';
import { loadPolicyDirectory } from '../engine/index.js';
import { discoverIdentity, LOGICAL_CLUSTER_ANNOTATION, parseFleetConfig, type FleetConfig } from '../fleet/index.js';
import { KubeClient, loadKubeConfig } from '../kube/index.js';
import { AdmissionPipeline } from '../pipeline/index.js';
import { own, UNKNOWN_CLUSTER, type ClusterIdentity, type WorkspaceInfo } from '../translate/index.js';
import { auditObject } from './evaluate.js';
import { kindsForPolicies, parseKinds, type KindInfo } from './kinds.js';
import { ReportBuilder, type AuditReport } from './report.js';
import { clusterItems, manifestItems, type AuditItem } from './sources.js';
import { policyReports } from './formats.js';

export { decisionSummaryText, summariseDecisions, type DecisionSummary } from './decisions.js';
export { htmlReport, jsonReport, markdownReport, policyReports, policyReportYaml, textReport, MAX_RESULTS_PER_REPORT, type PolicyReportObject } from './formats.js';
export { failsAt, type AuditReport, type Counts } from './report.js';
export { KNOWN_KINDS, kindsForPolicies, parseKinds, type KindInfo } from './kinds.js';

export interface AuditOptions {
  policies: string;
  contexts: string[];
  allContexts: boolean;
  kubeconfig?: string;
  manifests: string[];
  kinds?: string;
  config?: FleetConfig;
  logger: Logger;
  /** Called every hundred objects, for a progress display. */
  progress?: (objects: number) => void;
}

export interface AuditRun {
  report: AuditReport;
  /** The clusters reached, for --apply-reports. */
  clients: Map<string, KubeClient>;
}

/** The kcp workspace of an object, from its logical cluster annotation and the config's mapping. */
function workspaceOf(config: FleetConfig, object: Record<string, unknown>): WorkspaceInfo | undefined {
  const annotations = ((object['metadata'] ?? {}) as { annotations?: Record<string, string> }).annotations ?? {};
  const logicalCluster = own(annotations, LOGICAL_CLUSTER_ANNOTATION);
  const path = logicalCluster ? own(config.kcp?.logicalClusters, logicalCluster) : undefined;
  return logicalCluster && path ? { path, logicalCluster, labels: { ...config.kcp?.workspaces } } : undefined;
}

async function audit(builder: ReportBuilder, pipeline: AdmissionPipeline, items: AsyncIterable<AuditItem>, facts: (item: AuditItem) => Parameters<typeof auditObject>[2], progress?: (n: number) => void): Promise<void> {
  let seen = 0;
  for await (const item of items) {
    builder.add(auditObject(pipeline, item, facts(item)));
    seen += 1;
    if (progress && seen % 100 === 0) progress(seen);
  }
}

export async function runAudit(options: AuditOptions): Promise<AuditRun> {
  const pipeline = new AdmissionPipeline();
  const set = await pipeline.activate(await loadPolicyDirectory(options.policies));
  const kinds: KindInfo[] = options.kinds ? parseKinds(options.kinds) : kindsForPolicies(set);
  const builder = new ReportBuilder();
  const clients = new Map<string, KubeClient>();
  const config = options.config ?? parseFleetConfig({});

  for (const root of options.manifests) {
    const cluster: ClusterIdentity = { ...UNKNOWN_CLUSTER, ...(config.cluster.name ? { name: config.cluster.name } : { name: 'manifests' }) };
    try {
      await audit(builder, pipeline, manifestItems(root, cluster.name, (m) => builder.error(m)), (item) => {
        const workspace = workspaceOf(config, item.object);
        return { cluster, ...(workspace ? { workspace } : {}) };
      }, options.progress);
    } catch (error) {
      builder.error(`${root}: ${(error as Error).message}`);
    }
  }

  let contexts = options.contexts;
  if (options.allContexts) contexts = loadKubeConfig({ ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}) }).getContexts().map((c) => c.name);
  for (const context of contexts) {
    try {
      const client = new KubeClient(loadKubeConfig({ ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}), context }));
      const identity = (await discoverIdentity(parseFleetConfig({ cluster: { name: context } }), client, options.logger)).identity;
      const namespaces = new Map<string, Record<string, string>>();
      for (const ns of (await client.list<{ metadata?: { name?: string; labels?: Record<string, string> } }>('/api/v1/namespaces')).items) {
        namespaces.set(ns.metadata?.name ?? '', ns.metadata?.labels ?? {});
      }
      clients.set(identity.name, client);
      const facts = (item: AuditItem) => {
        const namespace = ((item.object['metadata'] ?? {}) as { namespace?: string }).namespace;
        const labels = namespace ? namespaces.get(namespace) : undefined;
        const workspace = workspaceOf(config, item.object);
        return { cluster: identity, ...(labels ? { namespaceLabels: labels } : {}), ...(workspace ? { workspace } : {}) };
      };
      await audit(builder, pipeline, clusterItems(client, identity.name, kinds, (m) => builder.error(m)), facts, options.progress);
    } catch (error) {
      // One cluster out of reach does not stop the others.
      builder.error(`cluster ${context}: ${(error as Error).message}`);
    }
  }
  return { report: builder.build(), clients };
}

/** Writes each cluster's PolicyReports to that cluster (server-side apply). */
export async function applyReports(run: AuditRun): Promise<string[]> {
  const problems: string[] = [];
  for (const { cluster, report } of policyReports(run.report)) {
    const client = run.clients.get(cluster);
    if (!client) continue;
    const path = report.kind === 'PolicyReport'
      ? `/apis/wgpolicyk8s.io/v1alpha2/namespaces/${encodeURIComponent(report.metadata.namespace ?? '')}/policyreports/${report.metadata.name}`
      : `/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports/${report.metadata.name}`;
    try {
      await client.apply(path, report);
    } catch (error) {
      problems.push(`cluster ${cluster}: writing ${report.kind} ${report.metadata.name}: ${(error as Error).message}`);
    }
  }
  return problems;
}

