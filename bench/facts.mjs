// Declared facts for the benchmark (policies/facts/*.yaml, read by Cedar policies as resource.facts.NAME):
//   - facts of the kinds security teams declare (Services, Ingresses, RBAC, containers, pod templates,
//     annotations) and policies that read them, added to a copy of the shipped set (whose packs declare
//     facts of their own): the worked example of policies/examples/ adopted, and 29 facts and 30
//     policies of the same kinds from here (one reads the best-practices pack's serviceType): 30 facts;
//   - a 10-policy set about the kinds the requests have, each policy reading one declared fact of its
//     kind, and that set with 990 generated policies and 90 more facts over made-up custom resource kinds
//     (1,000 policies, 100 facts), so that a request needs only a fact or two of the 100.
// Written as policy authors write them; the directories are made in a temporary folder at run time.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

const POD_KINDS = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'ReplicationController'];
const TEMPLATE_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'];
const WORKLOAD_GROUPS = ['', 'apps', 'batch'];
const RBAC = ['rbac.authorization.k8s.io'];

/**
 * 29 facts added to the shipped set, besides the worked example's under policies/examples/ (added
 * capabilities), adopted as its README says: 30 in all. The Services' type is the best-practices pack's
 * serviceType, which the policies below read as they would any declared fact.
 */
export const SHIPPED_FACTS = [
  // ---- Services
  { name: 'externalTrafficPolicy', type: 'String', kinds: ['Service'], groups: [''], cel: "object.spec.?externalTrafficPolicy.orValue('')" },
  { name: 'loadBalancerSourceRanges', type: 'Set<String>', kinds: ['Service'], groups: [''], cel: 'object.spec.?loadBalancerSourceRanges.orValue([])' },
  { name: 'nodePorts', type: 'Set<Long>', kinds: ['Service'], groups: [''], cel: 'object.spec.?ports.orValue([]).filter(p, has(p.nodePort)).map(p, p.nodePort)' },
  { name: 'externalIPs', type: 'Set<String>', kinds: ['Service'], groups: [''], description: 'CVE-2020-8554', cel: 'object.spec.?externalIPs.orValue([])' },
  // ---- Ingresses
  { name: 'ingressHosts', type: 'Set<String>', kinds: ['Ingress'], groups: ['networking.k8s.io'], cel: 'object.spec.?rules.orValue([]).filter(r, has(r.host)).map(r, r.host)' },
  { name: 'ingressTls', type: 'Bool', kinds: ['Ingress'], groups: ['networking.k8s.io'], cel: 'object.spec.?tls.orValue([]).size() > 0' },
  // ---- RBAC
  { name: 'grantsSecrets', type: 'Bool', kinds: ['Role', 'ClusterRole'], groups: RBAC, cel: "object.?rules.orValue([]).exists(r, 'secrets' in r.?resources.orValue([]))" },
  {
    name: 'escalationVerbs',
    type: 'Set<String>',
    kinds: ['Role', 'ClusterRole'],
    groups: RBAC,
    description: 'verbs that grant more than they say',
    cel: "object.?rules.orValue([]).map(r, r.?verbs.orValue([]).filter(v, v in ['escalate', 'bind', 'impersonate'])).flatten()",
  },
  { name: 'roleRefName', type: 'String', kinds: ['RoleBinding', 'ClusterRoleBinding'], groups: RBAC, cel: 'object.roleRef.name' },
  { name: 'bindingSubjectKinds', type: 'Set<String>', kinds: ['RoleBinding', 'ClusterRoleBinding'], groups: RBAC, cel: 'object.?subjects.orValue([]).map(s, s.kind)' },
  // ---- containers of Pods and pod templates
  {
    name: 'runsAsNonRoot',
    type: 'Bool',
    kinds: POD_KINDS,
    groups: WORKLOAD_GROUPS,
    description: 'every container, or the pod, sets runAsNonRoot',
    cel: 'containers.all(c, c.?securityContext.?runAsNonRoot.orValue(podSpec.?securityContext.?runAsNonRoot.orValue(false)))',
  },
  { name: 'readOnlyRootFilesystem', type: 'Bool', kinds: POD_KINDS, groups: WORKLOAD_GROUPS, cel: 'containers.all(c, c.?securityContext.?readOnlyRootFilesystem.orValue(false))' },
  { name: 'privilegeEscalation', type: 'Bool', kinds: POD_KINDS, groups: WORKLOAD_GROUPS, cel: 'containers.exists(c, c.?securityContext.?allowPrivilegeEscalation.orValue(true))' },
  {
    name: 'containersWithoutProbes',
    type: 'Set<String>',
    kinds: POD_KINDS,
    groups: WORKLOAD_GROUPS,
    cel: "containers.filter(c, c.list == 'containers' && !has(c.readinessProbe) && !has(c.livenessProbe)).map(c, c.name)",
  },
  {
    name: 'containersWithoutRequests',
    type: 'Set<String>',
    kinds: POD_KINDS,
    groups: WORKLOAD_GROUPS,
    cel: "containers.filter(c, c.list != 'ephemeralContainers' && c.?resources.?requests.orValue({}).size() == 0).map(c, c.name)",
  },
  {
    name: 'containersWithoutMemoryLimit',
    type: 'Set<String>',
    kinds: POD_KINDS,
    groups: WORKLOAD_GROUPS,
    cel: "containers.filter(c, c.list != 'ephemeralContainers' && !('memory' in c.?resources.?limits.orValue({}))).map(c, c.name)",
  },
  { name: 'hostPathVolumes', type: 'Set<String>', kinds: POD_KINDS, groups: WORKLOAD_GROUPS, cel: 'podSpec.?volumes.orValue([]).filter(v, has(v.hostPath)).map(v, v.hostPath.path)' },
  { name: 'imagePullPolicies', type: 'Set<String>', kinds: POD_KINDS, groups: WORKLOAD_GROUPS, cel: "containers.map(c, c.?imagePullPolicy.orValue('IfNotPresent'))" },
  { name: 'hostPorts', type: 'Set<Long>', kinds: POD_KINDS, groups: WORKLOAD_GROUPS, cel: 'containers.map(c, c.?ports.orValue([]).filter(p, has(p.hostPort)).map(p, p.hostPort)).flatten()' },
  { name: 'podTemplateLabels', type: 'Set<String>', kinds: TEMPLATE_KINDS, groups: ['apps', 'batch'], cel: 'object.spec.?template.?metadata.?labels.orValue({}).map(k, k)' },
  { name: 'replicas', type: 'Long', kinds: ['Deployment', 'StatefulSet', 'ReplicaSet'], groups: ['apps'], cel: 'object.spec.?replicas.orValue(1)' },
  // ---- any kind
  { name: 'annotationKeys', type: 'Set<String>', kinds: ['*'], description: 'metadata.annotations, the keys', cel: 'object.metadata.?annotations.orValue({}).map(k, k)' },
  {
    name: 'podSecurityEnforce',
    type: 'String',
    kinds: ['Namespace'],
    groups: [''],
    description: 'the namespace label pod-security.kubernetes.io/enforce',
    cel: "'pod-security.kubernetes.io/enforce' in object.metadata.?labels.orValue({}) ? object.metadata.labels['pod-security.kubernetes.io/enforce'] : ''",
  },
  // ---- six more, for the 30 facts added beyond the shipped set's own (issue 19's row)
  { name: 'ingressClass', type: 'String', kinds: ['Ingress'], groups: ['networking.k8s.io'], cel: "object.spec.?ingressClassName.orValue('')" },
  { name: 'configMapKeys', type: 'Set<String>', kinds: ['ConfigMap'], groups: [''], cel: 'object.?data.orValue({}).map(k, k)' },
  { name: 'secretType', type: 'String', kinds: ['Secret'], groups: [''], cel: "object.?type.orValue('Opaque')" },
  { name: 'serviceAccountAutomount', type: 'Bool', kinds: ['ServiceAccount'], groups: [''], cel: 'object.?automountServiceAccountToken.orValue(true)' },
  { name: 'runtimeClass', type: 'String', kinds: POD_KINDS, groups: WORKLOAD_GROUPS, cel: "podSpec.?runtimeClassName.orValue('')" },
  { name: 'cronSchedule', type: 'String', kinds: ['CronJob'], groups: ['batch'], cel: "object.spec.?schedule.orValue('')" },
];

/** One policy; `mode` enforce when omitted. */
function policy(id, advice, head, when, { mode, unless, severity } = {}) {
  return [
    `@id("facts.${id}")`,
    ...(severity ? [`@severity("${severity}")`] : []),
    ...(mode ? [`@mode("${mode}")`] : []),
    `@advice("${advice}")`,
    `forbid (${head})`,
    `when { ${when} }`,
    ...(unless ? [`unless { ${unless} }`] : []),
  ].join('\n') + ';\n';
}

const CU = 'principal, action in [k8s::Action::"create", k8s::Action::"update"]';
const RES = `${CU}, resource is k8s::Resource`;
const WL = `${CU}, resource is k8s::Workload`;
const has = (name) => `resource.facts has ${name}`;

/**
 * The 30 policies that read them (and the pack's serviceType): enforce where the real requests never match
 * (so the bench's verdicts stay what the shipped set answers), warn or audit where they do.
 */
export const SHIPPED_FACT_POLICIES = [
  // Services (the first reads the pack's fact with no kind test, as policies/README.md writes it: the
  // fact is only computed for Services)
  policy(
    'lb-source-ranges',
    'Restrict a LoadBalancer with spec.loadBalancerSourceRanges.',
    RES,
    `${has('serviceType')} && resource.facts.serviceType == "LoadBalancer" && ${has('loadBalancerSourceRanges')} && resource.facts.loadBalancerSourceRanges.isEmpty()`,
    { mode: 'warn' },
  ),
  policy(
    'lb-local-traffic',
    'Set externalTrafficPolicy: Local to keep client addresses.',
    RES,
    `resource.kind == "Service" && ${has('serviceType')} && resource.facts.serviceType == "LoadBalancer" && ${has('externalTrafficPolicy')} && resource.facts.externalTrafficPolicy != "Local"`,
    { mode: 'audit' },
  ),
  policy(
    'no-nodeport',
    'NodePort Services open a port on every node: use ClusterIP.',
    RES,
    `resource.kind == "Service" && ${has('serviceType')} && ${has('nodePorts')} && (resource.facts.serviceType == "NodePort" || !resource.facts.nodePorts.isEmpty())`,
  ),
  policy('no-external-ips', 'Remove spec.externalIPs (CVE-2020-8554).', RES, `resource.kind == "Service" && ${has('externalIPs')} && !resource.facts.externalIPs.isEmpty()`, { severity: 'high' }),
  // Ingresses
  policy('ingress-tls', 'Serve the Ingress over TLS (spec.tls).', RES, `resource.kind == "Ingress" && ${has('ingressTls')} && !resource.facts.ingressTls`, { mode: 'warn' }),
  policy('ingress-host-required', 'Give every Ingress rule a host.', RES, `resource.kind == "Ingress" && ${has('ingressHosts')} && resource.facts.ingressHosts.isEmpty()`),
  // RBAC
  policy('rbac-secrets', 'Roles that read Secrets are reviewed by the platform team.', RES, `["Role", "ClusterRole"].contains(resource.kind) && ${has('grantsSecrets')} && resource.facts.grantsSecrets`, { mode: 'warn' }),
  policy(
    'rbac-escalation',
    'Only cluster administrators grant escalate, bind or impersonate.',
    RES,
    `["Role", "ClusterRole"].contains(resource.kind) && ${has('escalationVerbs')} && !resource.facts.escalationVerbs.isEmpty()`,
    { unless: 'principal in k8s::Group::"system:masters"', severity: 'critical' },
  ),
  policy('no-cluster-admin-binding', 'Bind a narrower role than cluster-admin.', RES, `["RoleBinding", "ClusterRoleBinding"].contains(resource.kind) && ${has('roleRefName')} && resource.facts.roleRefName == "cluster-admin"`, {
    severity: 'critical',
  }),
  policy('binding-to-groups', 'Bindings to groups are recorded for review.', RES, `${has('bindingSubjectKinds')} && resource.facts.bindingSubjectKinds.contains("Group")`, { mode: 'audit' }),
  // containers (the added-capabilities example's fact too)
  policy('capabilities-added', 'Containers that add capabilities are recorded.', WL, `${has('addedCapabilities')} && !resource.facts.addedCapabilities.isEmpty()`, { mode: 'audit' }),
  policy('run-as-non-root', 'Set securityContext.runAsNonRoot: true on the pod or every container.', WL, `${has('runsAsNonRoot')} && !resource.facts.runsAsNonRoot`, { mode: 'warn' }),
  policy('read-only-root', 'Set securityContext.readOnlyRootFilesystem: true.', WL, `${has('readOnlyRootFilesystem')} && !resource.facts.readOnlyRootFilesystem`, { mode: 'audit' }),
  policy('privilege-escalation', 'Set securityContext.allowPrivilegeEscalation: false.', WL, `${has('privilegeEscalation')} && resource.facts.privilegeEscalation`, { mode: 'audit' }),
  policy(
    'probes',
    'Give long-running containers a readiness or liveness probe.',
    WL,
    `["Deployment", "StatefulSet", "DaemonSet"].contains(resource.kind) && ${has('containersWithoutProbes')} && !resource.facts.containersWithoutProbes.isEmpty()`,
    { mode: 'warn' },
  ),
  policy('requests', 'Set resources.requests on every container.', WL, `${has('containersWithoutRequests')} && !resource.facts.containersWithoutRequests.isEmpty()`, { mode: 'warn' }),
  policy('memory-limits', 'Set resources.limits.memory on every container.', WL, `${has('containersWithoutMemoryLimit')} && !resource.facts.containersWithoutMemoryLimit.isEmpty()`, { mode: 'audit' }),
  policy('host-path', 'Use a PersistentVolumeClaim instead of a hostPath volume.', WL, `${has('hostPathVolumes')} && !resource.facts.hostPathVolumes.isEmpty()`, {
    unless: 'resource.namespace == "kube-system"',
    severity: 'high',
  }),
  policy('pull-policy-never', 'imagePullPolicy: Never runs whatever image the node has.', WL, `${has('imagePullPolicies')} && resource.facts.imagePullPolicies.contains("Never")`, { mode: 'audit' }),
  policy('host-ports', 'Do not bind host ports: use a Service.', WL, `${has('hostPorts')} && !resource.facts.hostPorts.isEmpty()`),
  policy(
    'template-labels',
    'Label pod templates with app.kubernetes.io/name.',
    WL,
    `["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].contains(resource.kind) && ${has('podTemplateLabels')} && !resource.facts.podTemplateLabels.contains("app.kubernetes.io/name")`,
    { mode: 'audit' },
  ),
  policy('replicas', 'Run at least 2 replicas.', WL, `["Deployment", "StatefulSet"].contains(resource.kind) && ${has('replicas')} && resource.facts.replicas < 2`, {
    mode: 'warn',
    unless: 'resource has old && resource.old.facts has replicas && resource.old.facts.replicas == resource.facts.replicas',
  }),
  // any kind
  policy('owner-annotation', 'Annotate new objects with their owner.', 'principal, action == k8s::Action::"create", resource', `${has('annotationKeys')} && !resource.facts.annotationKeys.contains("canopy.io/owner")`, {
    mode: 'audit',
  }),
  policy(
    'namespace-pod-security',
    'Label the namespace with pod-security.kubernetes.io/enforce.',
    `${CU}, resource is k8s::Namespace`,
    `resource.kind == "Namespace" && ${has('podSecurityEnforce')} && resource.facts.podSecurityEnforce == ""`,
    { mode: 'warn' },
  ),
  // The six more facts' policies: audit where the captured requests match, enforce where they never do.
  policy('ingress-class', 'Name the Ingress class (spec.ingressClassName).', RES, `resource.kind == "Ingress" && ${has('ingressClass')} && resource.facts.ingressClass == ""`, { mode: 'audit' }),
  policy('configmap-keys', 'Keep ConfigMaps to at most 200 keys.', RES, `resource.kind == "ConfigMap" && ${has('configMapKeys')} && resource.facts.configMapKeys.contains("__too_many__")`),
  policy('secret-type', 'Service account token Secrets are made by the API server.', RES, `resource.kind == "Secret" && ${has('secretType')} && resource.facts.secretType == "kubernetes.io/service-account-token"`),
  policy('sa-automount', 'Service accounts should not mount their token by default.', RES, `resource.kind == "ServiceAccount" && ${has('serviceAccountAutomount')} && resource.facts.serviceAccountAutomount`, { mode: 'audit' }),
  policy('runtime-class', 'Only the gVisor runtime class is allowed for untrusted code.', WL, `${has('runtimeClass')} && resource.facts.runtimeClass != "" && resource.facts.runtimeClass != "gvisor"`),
  policy('cron-schedule', 'Give the CronJob a schedule.', WL, `resource.kind == "CronJob" && ${has('cronSchedule')} && resource.facts.cronSchedule == ""`),
];

// ---------------------------------------------------------------- 10 policies + facts, 1,000 policies + 100 facts

/** The object judged: on DELETE `object` is null and the deleted object is `oldObject`. */
const OBJ = '(object == null ? oldObject : object)';

/** One fact for each kind the requests have, read by the 10-policy set (and by the 1,000). */
const KIND_FACTS = {
  Pod: { name: 'podContainerCount', type: 'Long', groups: [''], cel: 'containers.size()' },
  Deployment: { name: 'deploymentReplicas', type: 'Long', groups: ['apps'], cel: `${OBJ}.spec.?replicas.orValue(1)` },
  ConfigMap: { name: 'configMapKeys', type: 'Set<String>', groups: [''], cel: `${OBJ}.?data.orValue({}).map(k, k)` },
  Service: { name: 'servicePorts', type: 'Set<Long>', groups: [''], cel: `${OBJ}.spec.?ports.orValue([]).map(p, p.port)` },
  Namespace: { name: 'namespaceLabelKeys', type: 'Set<String>', groups: [''], cel: `${OBJ}.metadata.?labels.orValue({}).map(k, k)` },
  Secret: { name: 'secretType', type: 'String', groups: [''], cel: `${OBJ}.?type.orValue('Opaque')` },
  Ingress: { name: 'ingressRuleHosts', type: 'Set<String>', groups: ['networking.k8s.io'], cel: `${OBJ}.spec.?rules.orValue([]).filter(r, has(r.host)).map(r, r.host)` },
  StatefulSet: { name: 'statefulSetServiceName', type: 'String', groups: ['apps'], cel: `${OBJ}.spec.?serviceName.orValue('')` },
  CronJob: { name: 'cronSchedule', type: 'String', groups: ['batch'], cel: `${OBJ}.spec.?schedule.orValue('')` },
  Role: { name: 'roleRuleCount', type: 'Long', groups: ['rbac.authorization.k8s.io'], cel: `${OBJ}.?rules.orValue([]).size()` },
};
export const REAL_KINDS = Object.keys(KIND_FACTS);
/** Fictional custom resource kinds (bench/requests.mjs generates policies about the same ones). */
export const OTHER_KINDS = Array.from({ length: 120 }, (_, index) => `Custom${index}`);
const CUSTOM_FACT_COUNT = 90;

/** Custom-kind facts: the shapes CRD fields have. */
const CUSTOM_SHAPES = [
  { type: 'Bool', suffix: 'Suspended', cel: `${OBJ}.spec.?suspended.orValue(false)` },
  { type: 'Long', suffix: 'Replicas', cel: `${OBJ}.spec.?replicas.orValue(1)` },
  { type: 'String', suffix: 'Region', cel: `${OBJ}.spec.?forProvider.?region.orValue('')` },
  { type: 'Set<String>', suffix: 'LabelKeys', cel: `${OBJ}.metadata.?labels.orValue({}).map(k, k)` },
  { type: 'Set<Long>', suffix: 'Ports', cel: `${OBJ}.spec.?endpoints.orValue([]).map(e, e.?port.orValue(0))` },
];

/** Fact j covers Custom j and, for the first 30, Custom j+90: every custom kind has one. */
function customFact(j) {
  const shape = CUSTOM_SHAPES[j % CUSTOM_SHAPES.length];
  const kinds = [`Custom${j}`, ...(j + CUSTOM_FACT_COUNT < OTHER_KINDS.length ? [`Custom${j + CUSTOM_FACT_COUNT}`] : [])];
  return { name: `custom${j}${shape.suffix}`, type: shape.type, kinds, groups: [`*.bench${j % 7}.example.io`], cel: shape.cel };
}

function factOfKind(kind) {
  const real = KIND_FACTS[kind];
  if (real) return real;
  const index = Number(kind.slice('Custom'.length));
  return customFact(index % CUSTOM_FACT_COUNT);
}

/** A test of a fact that the real requests never meet, by the fact's type. */
function improbable(fact, n) {
  const value = `resource.facts.${fact.name}`;
  switch (fact.type) {
    case 'Bool':
      return value;
    case 'Long':
      return `${value} > ${1000 + n}`;
    case 'String':
      return `${value} == "nowhere-${n}"`;
    case 'Set<String>':
      return `${value}.contains("owner-${n}")`;
    case 'Set<Long>':
      return `${value}.contains(${100_000 + n})`;
  }
  throw new Error(`no test for ${fact.type}`);
}

const entityTypeOf = (kind) => (kind === 'Namespace' ? 'k8s::Namespace' : ['Pod', 'Deployment', 'StatefulSet', 'CronJob'].includes(kind) ? 'k8s::Workload' : 'k8s::Resource');
const ACTIONS = ['create', 'update', 'delete'];

function factPolicy(id, kind, actionHead, n) {
  const fact = factOfKind(kind);
  return (
    `@id("${id}")\n@advice("Generated policy ${n}: change the ${fact.name} of this ${kind}.")\n` +
    `forbid (principal, ${actionHead}, resource is ${entityTypeOf(kind)})\n` +
    `when { resource.kind == "${kind}" && resource.facts has ${fact.name} && ${improbable(fact, n)} };\n`
  );
}

/** The 10 policies: one per kind the requests have, each reading that kind's fact, on create and update. */
function tenFactPolicies() {
  return REAL_KINDS.map((kind, n) => factPolicy(`facts-ten.${kind}`, kind, 'action in [k8s::Action::"create", k8s::Action::"update"]', n)).join('\n');
}

/** `count` generated policies, each about one kind and one action, reading the fact of its kind; one in 100 about a kind the requests have. */
function generatedFactPolicies(count) {
  const policies = [];
  for (let n = 0; n < count; n++) {
    const real = n % 100 === 0;
    const kind = real ? REAL_KINDS[(n / 100) % REAL_KINDS.length] : OTHER_KINDS[n % OTHER_KINDS.length];
    policies.push(factPolicy(`generated-facts.${n}`, kind, `action == k8s::Action::"${ACTIONS[n % ACTIONS.length]}"`, n));
  }
  return policies.join('\n');
}

/** A facts file as authors write it: kinds and groups as flow lists. */
function factsYaml(facts) {
  const document = new YAML.Document(
    { facts: facts.map(({ name, type, kinds, groups, description, cel }) => ({ name, type, kinds, ...(groups ? { groups } : {}), ...(description ? { description } : {}), cel })) },
    { aliasDuplicateObjects: false },
  );
  YAML.visit(document, {
    Seq(_, node) {
      if (node.items.every(YAML.isScalar)) node.flow = true;
    },
  });
  return document.toString({ lineWidth: 0 });
}

/**
 * Writes the three policy directories under `root`:
 *   shippedFacts   the shipped set (`shipped`) with every example under examples/ adopted (copied into place),
 *                  plus facts/bench.yaml (29 facts) and bench-facts/policies.cedar (30 policies);
 *   tenFacts       the schema and data of the shipped set, 10 policies each reading one fact of a kind the requests have, those 10 facts;
 *   thousandFacts  tenFacts plus 990 generated policies and 90 facts over 120 custom kinds (1,000 policies, 100 facts).
 */
export function factPolicySets(root, shipped) {
  const shippedFacts = path.join(root, 'shipped-facts');
  cpSync(shipped, shippedFacts, { recursive: true });
  const examples = path.join(shipped, 'examples');
  for (const example of existsSync(examples) ? readdirSync(examples).sort() : []) cpSync(path.join(examples, example), shippedFacts, { recursive: true });
  mkdirSync(path.join(shippedFacts, 'facts'), { recursive: true });
  writeFileSync(path.join(shippedFacts, 'facts', 'bench.yaml'), factsYaml(SHIPPED_FACTS));
  mkdirSync(path.join(shippedFacts, 'bench-facts'), { recursive: true });
  writeFileSync(path.join(shippedFacts, 'bench-facts', 'policies.cedar'), SHIPPED_FACT_POLICIES.join('\n'));

  const tenFacts = path.join(root, 'ten-facts');
  mkdirSync(path.join(tenFacts, 'facts'), { recursive: true });
  cpSync(path.join(shipped, 'schema.cedarschema'), path.join(tenFacts, 'schema.cedarschema'));
  cpSync(path.join(shipped, 'data'), path.join(tenFacts, 'data'), { recursive: true });
  // Its policies are its own: none of the shipped packs, so no data/packs.yaml naming them either.
  rmSync(path.join(tenFacts, 'data', 'packs.yaml'), { force: true });
  writeFileSync(path.join(tenFacts, 'facts', 'kinds.yaml'), factsYaml(REAL_KINDS.map((kind) => ({ ...KIND_FACTS[kind], kinds: [kind] }))));
  writeFileSync(path.join(tenFacts, 'policies.cedar'), tenFactPolicies());

  const thousandFacts = path.join(root, 'thousand-facts');
  cpSync(tenFacts, thousandFacts, { recursive: true });
  writeFileSync(path.join(thousandFacts, 'facts', 'custom.yaml'), factsYaml(Array.from({ length: CUSTOM_FACT_COUNT }, (_, j) => customFact(j))));
  writeFileSync(path.join(thousandFacts, 'generated.cedar'), generatedFactPolicies(990));
  return { shippedFacts, tenFacts, thousandFacts };
}
