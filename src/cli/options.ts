// What each command takes, as commander hands it over: program.ts declares the flags, the command
// modules under commands/ act on them. Kept apart from both so that declaring a command imports nothing
// of the work it does.

export const AUDIT_FORMATS = ['text', 'json', 'markdown', 'html', 'policyreport'] as const;

export interface EvalOptions {
  policies: string;
  json: boolean;
  mutate: boolean;
  namespaceLabels?: string;
}

export interface FactsOptions {
  policies: string;
  json: boolean;
  namespaceLabels?: string;
}

export interface FmtOptions {
  check: boolean;
}

export interface TestOptions {
  junit?: string;
  coverage: boolean;
}

export interface ImpactCommandOptions {
  from: string;
  to: string;
  requests: string;
  policiesPath: string;
  format: string;
  json?: string;
}

export interface AuditCommandOptions {
  policies: string;
  context?: string[];
  allContexts: boolean;
  kubeconfig?: string;
  manifests?: string[];
  kinds?: string;
  config?: string[];
  format: string;
  output?: string;
  failOn?: string;
  applyReports: boolean;
  decisions?: string;
}

export interface CertsOptions {
  out: string;
  dns?: string[];
  client?: string;
}

export interface BundleBuildOptions {
  output: string;
  revision?: string;
  commit?: string;
  channel?: string;
  clusterSelector?: string;
  allowEmpty: boolean;
  allowCanaryDenials: boolean;
}

export interface BundleSignOptions {
  key: string;
  output?: string;
}

export interface BundleVerifyOptions {
  pub: string[];
}

export interface BundleServeOptions {
  port: number;
  host: string;
  token?: string;
  allowAnonymous: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

export interface BundlePushOptions {
  insecure: boolean;
  username?: string;
}
