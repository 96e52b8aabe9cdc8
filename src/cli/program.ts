// The `canopy` commands as people see them: each one's name, arguments, options and help. Declaring them
// imports none of the work they do: an action imports its module under commands/ when it runs, so
// `canopy --help`, a usage error and each command load only what they need.
import { InvalidArgumentError, type Command } from 'commander';
import { SEVERITIES } from '../policy/engine/annotations.js';
import { DEFAULT_FLEET_NAMESPACE } from '../kubernetes/objects/fleet-budget.js';
import type { CliIo } from './io.js';
import {
  AUDIT_FORMATS,
  type AuditCommandOptions,
  type BundleBuildOptions,
  type BundlePushOptions,
  type BundleServeOptions,
  type BundleSignOptions,
  type BundleVerifyOptions,
  type CertsOptions,
  type EvalOptions,
  type FactsOptions,
  type FmtOptions,
  type ImpactCommandOptions,
  type TestOptions,
} from './options.js';
import type { BudgetsCommandOptions } from './commands/budgets.js';

/** One run of the command line: its io, and the exit code its command returned. */
export interface Invocation {
  readonly io: CliIo;
  code: number;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Every command but serve (which declares itself, in commands/serve.ts), in the order help lists them. */
export function declareCommands(program: Command, run: Invocation): void {
  declareEval(program, run);
  declareFacts(program, run);
  declareValidate(program, run);
  declareFmt(program, run);
  declareTest(program, run);
  declareImpact(program, run);
  declareBundle(program, run);
  declareAudit(program, run);
  declareBudgets(program, run);
  declareCerts(program, run);
}

/**
 * `serve` as the list of commands shows it, without importing what serve needs to declare its options
 * (their help comes from the settings of operations/config). The real one replaces it when serve runs or
 * its help is asked for; src/cli/main.test.ts checks that the two read the same in the list.
 */
export function listServe(program: Command): void {
  program
    .command('serve')
    .description('run the validating and mutating admission webhooks over HTTPS')
    .option('--config <file>', 'a YAML file with any of the settings below (also CANOPY_CONFIG)');
}

function declareEval(program: Command, run: Invocation): void {
  program
    .command('eval')
    .description(
      'run AdmissionReview files through the validating pipeline ' +
        '(exit 0 all allowed, 1 any denied, 2 unreadable input or unusable policies)',
    )
    .argument('<file...>', 'AdmissionReview JSON files ("-" reads standard input)')
    .option('--policies <dir>', 'the policy directory', './policies')
    .option('--json', 'print one AdmissionReview response per line (with --mutate, one {file, mutation, object, validation} per line)', false)
    .option('--mutate', 'run the mutating webhook first and show the patch and the mutated object, then validate the mutated object', false)
    .option('--namespace-labels <k=v,...>', "labels of the requests' namespace, as a cluster would know them (tenant, data class: what quota, sovereignty and declared facts read)")
    .action(async (files: string[], options: EvalOptions) => {
      const { evalFiles } = await import('./commands/eval.js');
      run.code = await evalFiles(files, options, run.io);
    });
}

function declareFacts(program: Command, run: Invocation): void {
  program
    .command('facts')
    .summary('print every fact Cedar sees for AdmissionReviews or manifests, built-in and declared (exit 0 printed, 2 unreadable input or unusable policies)')
    .description(
      'print every fact Cedar sees for AdmissionReviews or manifests: the resource entity and its attributes, ' +
        'the declared facts (resource.facts, with their types and descriptions, and why any could not be computed), ' +
        'labels as tags, the old object on UPDATE, the context, the principal and its groups, the namespace and the cluster. ' +
        'A manifest is judged as canopy audit --manifests judges it (a dry-run CREATE by canopy:audit). ' +
        'Secret data and environment values are never printed (exit 0 printed, 2 unreadable input or unusable policies)',
    )
    .argument('<file...>', 'AdmissionReview JSON files, or manifests (multi-document YAML or JSON, Lists expanded; a directory is read recursively); "-" reads standard input')
    .option('--policies <dir>', 'the policy directory (its declared facts are computed)', './policies')
    .option('--json', 'print one JSON object per request, with the same content', false)
    .option('--namespace-labels <k=v,...>', 'labels of the objects\' namespace (without a cluster Canopy knows none): namespace tags, and what sovereignty and declared facts read')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  canopy facts examples/admission-reviews/privileged-pod.json',
        '  canopy facts --policies ./policies --namespace-labels canopy.io/data-class=restricted deploy/app.yaml',
        '  kubectl get deploy web -o yaml | canopy facts --json -',
      ].join('\n'),
    )
    .action(async (files: string[], options: FactsOptions) => {
      const { factsFiles } = await import('./commands/facts.js');
      run.code = await factsFiles(files, options, run.io);
    });
}

function declareValidate(program: Command, run: Invocation): void {
  program
    .command('validate')
    .description('validate a policy directory against its schema in strict mode; a policy that can never match is an error (exit 0 valid, 1 invalid)')
    .argument('[dir]', 'the policy directory', './policies')
    .action(async (dir: string) => {
      const { validatePolicies } = await import('./commands/validate.js');
      run.code = await validatePolicies(dir, run.io);
    });
}

function declareFmt(program: Command, run: Invocation): void {
  program
    .command('fmt')
    .description("format every policy file with Cedar's formatter; --check lists unformatted files and exits 1 instead")
    .argument('[dir]', 'the policy directory', './policies')
    .option('--check', 'change nothing; list the files that are not formatted', false)
    .action(async (dir: string, options: FmtOptions) => {
      const { formatPolicies } = await import('./commands/fmt.js');
      run.code = await formatPolicies(dir, options, run.io);
    });
}

function declareTest(program: Command, run: Invocation): void {
  program
    .command('test')
    .description('run the policy tests (*.test.yaml) under a policy directory (exit 0 all pass, 1 any fails, or with --coverage a policy no case matches)')
    .argument('[dir]', 'the policy directory', './policies')
    .option('--junit <file>', 'also write the results as JUnit XML, for CI')
    .option('--coverage', 'list each policy with the cases that matched it, and fail when no case matches a policy', false)
    .action(async (dir: string, options: TestOptions) => {
      const { testPolicies } = await import('./commands/test.js');
      run.code = await testPolicies(dir, options, run.io);
    });
}

function declareImpact(program: Command, run: Invocation): void {
  program
    .command('impact')
    .description(
      'replay recorded AdmissionReviews through two versions of the policies and report every request ' +
        'whose decision, denying policies or patch changes (Markdown for a pull request, or JSON)',
    )
    .requiredOption('--from <old>', 'the old policies: a directory, a bundle (.tar.gz), or a git revision (main, HEAD~1, git:REV)')
    .requiredOption('--to <new>', 'the new policies: a directory, a bundle, or a git revision')
    .requiredOption('--requests <path>', 'AdmissionReview files (.json, .yaml) or recorded logs (.jsonl), a file or a directory')
    .option('--policies-path <path>', 'where the policy directory is in the git repository, for revisions', 'policies')
    .option('--format <format>', 'markdown or json, on standard output', 'markdown')
    .option('--json <file>', 'also write the JSON report to a file')
    .action(async (options: ImpactCommandOptions) => {
      const { reportImpact } = await import('./commands/impact.js');
      run.code = await reportImpact(options, run.io);
    });
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port');
  return n;
}

function declareBundle(program: Command, run: Invocation): void {
  const bundle = program.command('bundle').description('build, sign, verify, inspect, serve and push signed policy bundles');
  const commands = () => import('./commands/bundle.js');

  bundle
    .command('build')
    .description('build a bundle from a policy directory (refused if the policies do not validate)')
    .argument('<dir>', 'the policy directory')
    .requiredOption('-o, --output <file>', 'the bundle to write (.tar.gz)')
    .option('--revision <revision>', 'the revision to record (default: the content hash)')
    .option('--commit <sha>', 'the source commit to record')
    .option('--channel <channel>', 'the channel it is for (prod): only webhooks with that bundle.channel take it')
    .option('--cluster-selector <selector>', 'only clusters matching this: key=value,... (name, region, jurisdiction, environment, provider, or a cluster label) or a selector as YAML {matchLabels, matchExpressions}')
    .option('--allow-empty', 'the set may have no validating policies (webhooks refuse an empty set otherwise)', false)
    .option('--allow-canary-denials', "the set may deny the webhooks' canary requests (they refuse it otherwise)", false)
    .action(async (dir: string, options: BundleBuildOptions) => {
      run.code = await (await commands()).build(dir, options, run.io);
    });

  bundle
    .command('sign')
    .description('sign a bundle with a private key (PEM, Ed25519 or ECDSA P-256)')
    .argument('<file>', 'the bundle')
    .requiredOption('--key <file>', 'the private key (PEM)')
    .option('-o, --output <file>', 'where to write the signed bundle (default: in place)')
    .action(async (file: string, options: BundleSignOptions) => {
      run.code = await (await commands()).sign(file, options, run.io);
    });

  bundle
    .command('verify')
    .description('verify a bundle: its signature by a trusted key and every file (exit 0 valid, 1 not)')
    .argument('<file>', 'the bundle')
    .requiredOption('--pub <file>', 'a trusted public key (PEM; repeatable)', collect)
    .action(async (file: string, options: BundleVerifyOptions) => {
      run.code = await (await commands()).verify(file, options, run.io);
    });

  bundle
    .command('inspect')
    .description('show what a bundle holds, without trusting it')
    .argument('<file>', 'the bundle')
    .action(async (file: string) => {
      run.code = await (await commands()).inspect(file, run.io);
    });

  bundle
    .command('serve')
    .description('serve the bundles in a folder over HTTP(S), with ETag, If-None-Match and long polling (?wait=SECONDS)')
    .argument('<dir>', 'the folder of bundles')
    .option('--port <port>', 'port', port, 8080)
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--token <token>', 'require this bearer token (or set CANOPY_BUNDLE_TOKEN); required unless --host is a loopback address')
    .option('--allow-anonymous', 'serve without a token on a non-loopback address (behind a proxy that authenticates)', false)
    .option('--tls-cert <file>', 'serve HTTPS with this certificate')
    .option('--tls-key <file>', 'the key of --tls-cert')
    .action(async (dir: string, options: BundleServeOptions) => {
      run.code = await (await commands()).serve(dir, options, run.io);
    });

  bundle
    .command('push')
    .description('push a bundle to an OCI registry as an artifact')
    .argument('<file>', 'the bundle')
    .argument('<target>', 'oci://REGISTRY/REPOSITORY:TAG')
    .option('--insecure', 'the registry speaks plain HTTP', false)
    .option('--username <name>', 'registry user (password from CANOPY_REGISTRY_PASSWORD)')
    .action(async (file: string, target: string, options: BundlePushOptions) => {
      run.code = await (await commands()).push(file, target, options, run.io);
    });
}

function declareAudit(program: Command, run: Invocation): void {
  program
    .command('audit')
    .description(
      'judge existing objects in clusters and manifest directories with the webhook\'s policies, as if they were being created; ' +
        'exit 0, or 1 when --fail-on finds a failure at or above that severity, 2 when nothing could be audited, ' +
        'the command is unusable (an unknown context, a bad --config) or --apply-reports could not write the reports',
    )
    .option('--policies <dir>', 'the policy directory', './policies')
    .option('--context <name>', 'a kubeconfig context to audit (repeatable: several clusters in one run)', collect)
    .option('--all-contexts', 'audit every context of the kubeconfig', false)
    .option('--kubeconfig <file>', 'the kubeconfig (default: $KUBECONFIG or ~/.kube/config)')
    .option('--manifests <path>', 'a manifest directory or file: multi-document YAML and JSON, read recursively (repeatable)', collect)
    .option('--kinds <list>', 'the kinds to list, e.g. pods,deployments.apps (default: what the policies can judge)')
    .option(
      '--config <[context=]file>',
      'a Canopy config file (as for canopy serve): its cluster identity and kcp mapping apply to the manifests and to every audited context, ' +
        'each cluster\'s ClusterProperty / ClusterProfile read on top as canopy serve does; context=file gives one context its own (repeatable)',
      collect,
    )
    .option('--format <format>', `${AUDIT_FORMATS.join(', ')}`, 'text')
    .option('-o, --output <file>', 'write the report here instead of standard output')
    .option('--fail-on <severity>', `exit 1 when a failure is at or above: ${SEVERITIES.join(', ')}`)
    .option('--apply-reports', 'write the PolicyReports to each audited cluster (needs the wgpolicyk8s.io/v1alpha2 PolicyReport CRDs there)', false)
    .option('--decisions <log>', 'instead: summarise a decision log (denials by policy, namespace, user and hour; slowest; errors)')
    .action(async (options: AuditCommandOptions) => {
      const { auditCommand } = await import('./commands/audit.js');
      run.code = await auditCommand(options, run.io);
    });
}

function declareBudgets(program: Command, run: Invocation): void {
  program
    .command('budgets')
    .summary('report the fleet-wide budgets (FleetBudgets) per tenant: limits, use, grants, spend and its trend (exit 0, 2 when a budget cannot be read or the fleet store reached)')
    .description(
      'report the fleet-wide budgets: every FleetBudget (canopy.io/v1alpha1) of a namespace of the fleet store, per tenant: ' +
        'its limits, what the fleet uses (the sum of the clusters\' use) and the percent of each limit, what the clusters hold (granted) and what is free; ' +
        'spend (the monthly cost of what is used) and GPUs by cluster, region and provider; the fleet per day from the clusters\' histories; ' +
        'and the clusters whose grant has expired, flagged as not renewing. ' +
        'Exit 0; 2 when a FleetBudget cannot be read (it is named, the others reported), a --tenant has none, or the fleet store cannot be used or reached',
    )
    .option('--kubeconfig <file>', 'the kubeconfig of the fleet store (default: in a pod its service account, else $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'the kubeconfig context of the fleet store (default: its current context)')
    .option('--namespace <ns>', 'the namespace of the FleetBudgets', DEFAULT_FLEET_NAMESPACE)
    .option('--tenant <name>', 'only this tenant (repeatable: these tenants)', collect)
    .option('--output <format>', 'text, json or html (one self-contained page with charts)', 'text')
    .option('--out <file>', 'write the report here instead of standard output')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  canopy budgets --context fleet-store',
        '  canopy budgets --context fleet-store --tenant shop --tenant ml \\',
        '    --output html --out budgets.html',
        "  canopy budgets --output json | jq '.tenants[] | {tenant, spend: .spend.total}'",
        '',
        'granted is what the clusters hold of a budget now: each grant that holds (or',
        'its use, if larger); a grant past its expiresAt is not renewing, and counts',
        'as its use only. Spend is the monthly cost of what is used.',
        '',
        'JSON (version 1): {version, generatedAt, store: {server, namespace},',
        '  tenants: [{tenant, budget, currency, limits, used, granted, free,',
        '  percentUsed, clusters, spend: {total, byCluster, byRegion, byProvider},',
        '  trend}], unreadable: [{name, namespace, reason}], tenantsNotFound}.',
        '  Amounts are {cpuMillis, memoryBytes, gpus, monthlyCost}, monthlyCost in',
        '  the currency per month: numbers, or exact decimal strings when too large.',
      ].join('\n'),
    )
    .action(async (options: BudgetsCommandOptions) => {
      const { budgetsCommand } = await import('./commands/budgets.js');
      run.code = await budgetsCommand(options, run.io);
    });
}

function declareCerts(program: Command, run: Invocation): void {
  program
    .command('certs')
    .description(
      'write a CA (ca.crt, ca.key) and a serving certificate (tls.crt, tls.key) into a folder and print the ' +
        "webhook's caBundle; an existing CA in the folder is kept, so the caBundle stays the same",
    )
    .requiredOption('--out <dir>', 'the folder to write to')
    .option(
      '--dns <name>',
      'a DNS name or IP address for the serving certificate (repeatable); default: localhost, 127.0.0.1, ::1 ' +
        'and the names of the Service canopy in canopy-system',
      collect,
    )
    .option(
      '--client <name>',
      "also write a client certificate with this common name (client.crt, client.key) signed by the same CA, for the API server's " +
        'admission kubeconfig when canopy serve runs with --tls-client-ca DIR/ca.crt',
    )
    .action(async (options: CertsOptions) => {
      const { writeCertificates } = await import('./commands/certs.js');
      run.code = await writeCertificates(options, run.io);
    });
}
