// Which kubeconfig contexts an audit reaches, and which --config file gives each one its identity:
// `--config FILE` is the identity of the manifests and of every context without one of its own;
// `--config CONTEXT=FILE` is one context's own. Mistakes are refused before anything is audited.
import { parseFleetConfig, type FleetConfig } from '../../facts/fleet/index.js';
import { clientNode } from '../../sources/kube/index.js';
import { CanopyError, messageOf } from '../../operations/errors/index.js';

/** A mistake in what the audit was asked to do: reported as one line, nothing audited. */
export class AuditError extends CanopyError {
  constructor(message: string) {
    super('audit', message);
  }
}

/** One --config: a file, for one context or (without `context`) for all the others and the manifests. */
export interface AuditConfig {
  file: string;
  context?: string;
  config: FleetConfig;
}

/** `CONTEXT=FILE` or `FILE`: the context is what comes before the first '='. */
export function parseConfigArgument(value: string): { file: string; context?: string } {
  const equals = value.indexOf('=');
  if (equals < 0) return { file: value };
  const context = value.slice(0, equals);
  const file = value.slice(equals + 1);
  if (!context || !file) throw new AuditError(`--config ${value}: give a file, or CONTEXT=FILE for one context's own`);
  return { context, file };
}

/** The environment the kubeconfig is looked for in: the CLI's, which need not be the process's. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** The kubeconfig's context names, loaded as loadKubeConfig does (file, in-cluster, default) but without choosing one. */
function kubeconfigContexts(kubeconfig: string | undefined, env: Environment): { names: string[]; where: string } {
  const where = kubeconfig ?? env['KUBECONFIG'] ?? '~/.kube/config';
  const config = new (clientNode().KubeConfig)();
  try {
    if (kubeconfig) config.loadFromFile(kubeconfig);
    else if (env['KUBERNETES_SERVICE_HOST']) config.loadFromCluster();
    else config.loadFromDefault();
  } catch (error) {
    throw new AuditError(`cannot load the kubeconfig ${where}: ${messageOf(error).split('\n')[0]}`);
  }
  return { names: config.getContexts().map((context) => context.name), where };
}

export interface AuditPlan {
  /** The contexts to audit, each with the config that gives its identity. */
  contexts: { context: string; config: FleetConfig }[];
  /** The identity of the manifests: the --config without a context. */
  manifests: FleetConfig;
}

/**
 * Checks the contexts against the kubeconfig and pairs each with its config. Each context's config
 * names the cluster after the context unless the file (or, later, a ClusterProperty) names it.
 */
export function planAudit(options: { contexts: string[]; allContexts: boolean; kubeconfig?: string; configs?: AuditConfig[]; env?: Environment }): AuditPlan {
  const configs = options.configs ?? [];
  const shared = configs.filter((c) => c.context === undefined);
  if (shared.length > 1) {
    throw new AuditError(`--config ${shared.map((c) => c.file).join(', ')}: only one --config may go without a context; give the others as --config CONTEXT=FILE`);
  }
  const fallback = shared[0]?.config ?? parseFleetConfig({});
  let contexts = [...new Set(options.contexts)];
  const bound = configs.filter((c): c is AuditConfig & { context: string } => c.context !== undefined);
  if (contexts.length > 0 || options.allContexts || bound.length > 0) {
    const available = kubeconfigContexts(options.kubeconfig, options.env ?? process.env);
    const has = available.names.length > 0 ? `its contexts: ${available.names.join(', ')}` : 'it has no contexts';
    if (options.allContexts) contexts = available.names;
    const unknown = contexts.filter((context) => !available.names.includes(context));
    if (unknown.length > 0) throw new AuditError(`the kubeconfig ${available.where} has no context ${unknown.join(', ')}; ${has}`);
    for (const { context, file } of bound) {
      if (!available.names.includes(context)) throw new AuditError(`--config ${context}=${file}: the kubeconfig ${available.where} has no context ${context}; ${has}`);
      if (!contexts.includes(context)) throw new AuditError(`--config ${context}=${file}: context ${context} is not audited; add --context ${context}`);
    }
  }
  const own = new Map<string, AuditConfig>();
  for (const config of bound) {
    const other = own.get(config.context);
    if (other) throw new AuditError(`--config ${config.context}=${config.file}: context ${config.context} already has ${other.file}`);
    own.set(config.context, config);
  }
  const name = fallback.cluster.name;
  const sharing = contexts.filter((context) => !own.has(context));
  if (name !== undefined && sharing.length > 1) {
    throw new AuditError(
      `--config ${shared[0]?.file}: it names cluster ${name}, which ${sharing.length} contexts would share (${sharing.join(', ')}); ` +
        `give it to its own context with --config CONTEXT=${shared[0]?.file}, or leave cluster.name out to name each cluster after its context`,
    );
  }
  return {
    contexts: contexts.map((context) => {
      const config = own.get(context)?.config ?? fallback;
      return { context, config: config.cluster.name !== undefined ? config : { ...config, cluster: { ...config.cluster, name: context } } };
    }),
    manifests: fallback,
  };
}
