// `canopy facts FILE...`: every fact Cedar sees about a request (the built-in attributes, the declared
// facts of policies/facts/, labels as tags, the old object on UPDATE, the context, the principal, the
// namespace and the cluster), so that a policy author sees the request as a policy does. Input is
// AdmissionReviews or manifests (judged as `canopy audit --manifests` judges them: a dry-run CREATE).
// Only the Cedar request is printed, never the object: Secret data and environment values stay out.
import { readFile, stat } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { parseAdmissionReview, syntheticReview, AdmissionReviewError, type AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { CedarValueJson, EntityJson, EntityUidJson } from '../../policy/cedar/index.js';
import { loadPolicyDirectory, type CompiledPolicySet } from '../../policy/set/index.js';
import { findFiles } from '../../sources/files/find-files.js';
import { AdmissionPipeline } from '../../pipeline/index.js';
import { parseLabels } from '../labels.js';
import { EXIT, isPolicyProblem } from '../output.js';
import { messageOf } from '../../operations/errors/index.js';
import { pathIn, readStdin, type CliIo } from '../io.js';
import type { FactsOptions } from '../options.js';

type FactDeclaration = CompiledPolicySet['facts']['declarations'][number];
type FactType = FactDeclaration['type'];

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

type CedarRecord = Record<string, CedarValueJson>;

interface Uid {
  type: string;
  id: string;
}

export interface EntityView {
  type: string;
  id: string;
  parents: Uid[];
  attributes: CedarRecord;
  tags: CedarRecord;
}

/** A declared fact as the request has it: its value, or why it could not be computed. */
export interface FactView {
  type: FactType;
  description?: string;
  value?: CedarValueJson;
  failure?: string;
}

export interface ResourceView extends EntityView {
  /** `resource.facts`, by name, in declaration order: every declared fact that applies to the kind. */
  facts: Record<string, FactView>;
  /** `resource.old` on UPDATE. */
  old?: EntityView & { facts: Record<string, FactView> };
}

/** What `canopy facts --json` prints for each object, one per line. */
export interface ObjectFacts {
  file: string;
  source: 'AdmissionReview' | 'manifest';
  request: { operation: string; group: string; version: string; kind: string; subResource: string; namespace: string; name: string };
  action: Uid;
  principal: EntityView & { groups: string[] };
  resource: ResourceView;
  context: CedarRecord;
  namespace?: EntityView;
  cluster?: EntityView;
  workspaces?: EntityView[];
  /** Entities of the request not shown above (none today). */
  others?: EntityView[];
}

// ── Reading the input ─────────────────────────────────────────────────────────────────────────────

interface Input {
  label: string;
  source: ObjectFacts['source'];
  review: unknown;
}

/** The synthetic request `canopy audit --manifests` judges a manifest with (src/cli/audit/evaluate.ts). */
const MANIFEST_USER = { username: 'canopy:audit', groups: ['system:authenticated'] };

/** Numbers one run's synthetic requests canopy-facts-1, -2, ..., however many runs came before it in the process. */
interface Numbering {
  count: number;
}

function manifestReview(object: Record<string, unknown>, numbering: Numbering): unknown {
  numbering.count += 1;
  return syntheticReview({ uid: `canopy-facts-${numbering.count}`, operation: 'CREATE', userInfo: MANIFEST_USER, object, oldObject: null, dryRun: true });
}

/** The documents of a file: one JSON value, or the documents of multi-document YAML. */
function documentsOf(name: string, text: string): { values: unknown[] } | { problem: string } {
  try {
    return { values: [JSON.parse(text) as unknown] };
  } catch (error) {
    if (name.endsWith('.json') || /^\s*[[{]/.test(text)) return { problem: `not JSON: ${messageOf(error)}` };
  }
  const values: unknown[] = [];
  for (const [index, document] of parseAllDocuments(text).entries()) {
    const first = document.errors[0];
    if (first) return { problem: `not YAML (document ${index + 1}): ${(first.message.split('\n')[0] ?? '').replace(/:$/, '')}` };
    values.push(document.toJS() as unknown);
  }
  return { values };
}

/** The objects of one file's text, or why none could be read. */
function inputsOf(label: string, text: string, numbering: Numbering): { inputs: Input[]; problems: string[] } {
  const documents = documentsOf(label, text);
  if ('problem' in documents) return { inputs: [], problems: [`${label}: ${documents.problem}`] };
  const found: { document: number; source: Input['source']; review: unknown }[] = [];
  const problems: string[] = [];
  for (const [index, value] of documents.values.entries()) {
    if (value === null || value === undefined) continue;
    if (isRecord(value) && value['kind'] === 'AdmissionReview') {
      found.push({ document: index + 1, source: 'AdmissionReview', review: value });
      continue;
    }
    const list = isRecord(value) && typeof value['kind'] === 'string' && value['kind'].endsWith('List') && Array.isArray(value['items']);
    for (const object of list ? (value['items'] as unknown[]) : [value]) {
      if (!isRecord(object) || typeof object['kind'] !== 'string' || typeof object['apiVersion'] !== 'string') {
        problems.push(`${label}${documents.values.length > 1 ? ` document ${index + 1}` : ''}: neither an AdmissionReview nor a Kubernetes object (no apiVersion and kind)`);
        continue;
      }
      found.push({ document: index + 1, source: 'manifest', review: manifestReview(object, numbering) });
    }
  }
  if (found.length === 0 && problems.length === 0) problems.push(`${label}: no AdmissionReview or Kubernetes object in it`);
  const numbered = documents.values.length > 1;
  return { inputs: found.map(({ document, source, review }) => ({ label: numbered ? `${label}#${document}` : label, source, review })), problems };
}

/** A file ("-": standard input) or a directory of *.json / *.yaml files, read recursively. */
async function readInputs(file: string, io: CliIo, numbering: Numbering): Promise<{ inputs: Input[]; problems: string[] }> {
  if (file === '-') return inputsOf('stdin', await readStdin(io), numbering);
  const local = pathIn(io, file);
  // Each file with the name messages give it: the one given as given, a directory's as found in it.
  let files: { label: string; location: string }[];
  try {
    const found = (await stat(local)).isDirectory() ? await findFiles(local, (name) => /\.(ya?ml|json)$/.test(name)) : undefined;
    files = found ? found.map((name) => ({ label: name, location: name })) : [{ label: file, location: local }];
  } catch (error) {
    return { inputs: [], problems: [`${file}: cannot read: ${messageOf(error)}`] };
  }
  if (files.length === 0) return { inputs: [], problems: [`${file}: no *.json, *.yaml or *.yml files in it`] };
  const all: { inputs: Input[]; problems: string[] } = { inputs: [], problems: [] };
  for (const { label, location } of files) {
    let text: string;
    try {
      text = await readFile(location, 'utf8');
    } catch (error) {
      all.problems.push(`${label}: cannot read: ${messageOf(error)}`);
      continue;
    }
    const { inputs, problems } = inputsOf(label, text, numbering);
    all.inputs.push(...inputs);
    all.problems.push(...problems);
  }
  return all;
}

// ── The view of a Cedar request ───────────────────────────────────────────────────────────────────

const uidOf = (uid: EntityUidJson): Uid => ('__entity' in uid ? uid.__entity : uid);
const sameUid = (a: Uid, b: Uid): boolean => a.type === b.type && a.id === b.id;

function isUid(value: unknown): value is Uid {
  return isRecord(value) && typeof value['type'] === 'string' && typeof value['id'] === 'string';
}

/** The entity a context or attribute value refers to (`{__entity: {type, id}}`). */
function entityRefOf(value: CedarValueJson | undefined): Uid | undefined {
  const json: unknown = value;
  return isRecord(json) && isUid(json['__entity']) ? json['__entity'] : undefined;
}

function entityView(entity: EntityJson, leaveOut: readonly string[] = []): EntityView {
  const { type, id } = uidOf(entity.uid);
  const attributes: CedarRecord = {};
  for (const [name, value] of Object.entries(entity.attrs)) if (!leaveOut.includes(name)) attributes[name] = value;
  const tags = Object.fromEntries(Object.entries(entity.tags ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { type, id, parents: entity.parents.map(uidOf), attributes, tags };
}

/** The declared facts of one entity: a value for each declaration that has one, else why not. */
function factViews(declarations: readonly FactDeclaration[], values: CedarValueJson | undefined, failures: Readonly<Record<string, string>>): Record<string, FactView> {
  const json: unknown = values;
  const computed = isRecord(json) ? (json as CedarRecord) : {};
  const views: Record<string, FactView> = {};
  for (const declaration of declarations) {
    const view: FactView = { type: declaration.type, ...(declaration.description ? { description: declaration.description } : {}) };
    const value = Object.hasOwn(computed, declaration.name) ? computed[declaration.name] : undefined;
    if (value !== undefined) view.value = value;
    else view.failure = failures[declaration.name] ?? 'not computed';
    views[declaration.name] = view;
  }
  return views;
}

function objectFacts(input: Input, request: AdmissionRequest, set: CompiledPolicySet, cedar: ReturnType<AdmissionPipeline['cedarRequestFor']>): ObjectFacts {
  const { cedarRequest, declaredFailures } = cedar;
  const find = (uid: Uid | undefined) => (uid ? cedarRequest.entities.find((entity) => sameUid(uidOf(entity.uid), uid)) : undefined);
  const shown: Uid[] = [];
  const show = (entity: EntityJson | undefined): EntityJson | undefined => {
    if (entity) shown.push(uidOf(entity.uid));
    return entity;
  };

  const resourceEntity = show(find(cedarRequest.resource));
  if (!resourceEntity) throw new Error(`the Cedar request has no entity for its resource ${cedarRequest.resource.type}::${JSON.stringify(cedarRequest.resource.id)}`);
  // Every declared fact that applies to the kind was computed (allDeclared): it has a value or a failure.
  const computed: unknown = resourceEntity.attrs['facts'];
  const declarations = set.facts.declarations.filter(
    ({ name }) => Object.hasOwn(declaredFailures, name) || (isRecord(computed) && Object.hasOwn(computed, name)),
  );
  const resource: ResourceView = {
    ...entityView(resourceEntity, ['facts', 'old']),
    facts: factViews(declarations, resourceEntity.attrs['facts'], declaredFailures),
  };
  const oldEntity = show(find(entityRefOf(resourceEntity.attrs['old'])));
  if (oldEntity) resource.old = { ...entityView(oldEntity, ['facts']), facts: factViews(declarations, oldEntity.attrs['facts'], declaredFailures) };

  const principalEntity = show(find(cedarRequest.principal));
  const principal = { ...(principalEntity ? entityView(principalEntity) : { ...cedarRequest.principal, parents: [], attributes: {}, tags: {} }), groups: [] as string[] };
  for (const parent of principal.parents) {
    if (parent.type !== 'k8s::Group') continue;
    principal.groups.push(parent.id);
    show(find(parent));
  }
  const namespace = show(find(entityRefOf(cedarRequest.context['namespace'])));
  const cluster = show(find(entityRefOf(cedarRequest.context['cluster'])));
  const workspaces = cedarRequest.entities
    .filter((entity) => uidOf(entity.uid).type === 'k8s::Workspace')
    .map((entity) => {
      show(entity);
      return entityView(entity);
    });
  const others = cedarRequest.entities.filter((entity) => !shown.some((uid) => sameUid(uid, uidOf(entity.uid)))).map((entity) => entityView(entity));
  return {
    file: input.label,
    source: input.source,
    request: {
      operation: request.operation,
      group: request.kind.group,
      version: request.kind.version,
      kind: request.kind.kind,
      subResource: request.subResource,
      namespace: request.namespace,
      name: request.name,
    },
    action: cedarRequest.action,
    principal,
    resource,
    context: cedarRequest.context,
    ...(namespace ? { namespace: entityView(namespace) } : {}),
    ...(cluster ? { cluster: entityView(cluster) } : {}),
    ...(workspaces.length > 0 ? { workspaces } : {}),
    ...(others.length > 0 ? { others } : {}),
  };
}

// ── Text ──────────────────────────────────────────────────────────────────────────────────────────

const uidText = ({ type, id }: Uid): string => `${type}::${JSON.stringify(id)}`;

/** A record that is a record in Cedar (not an entity reference or an extension value). */
function plainRecord(value: CedarValueJson | undefined): CedarRecord | undefined {
  const json: unknown = value;
  if (!isRecord(json) || '__entity' in json || '__extn' in json) return undefined;
  return json as CedarRecord;
}

/** A value on one line: strings quoted, sets as [a, b], records as {k: v}, entities as Type::"id". */
function inline(value: CedarValueJson | undefined): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  const entity = entityRefOf(value);
  if (entity) return uidText(entity);
  const json: unknown = value;
  const extension = isRecord(json) ? json['__extn'] : undefined;
  if (isRecord(extension) && typeof extension['fn'] === 'string') {
    const args = Array.isArray(extension['args']) ? (extension['args'] as CedarValueJson[]) : [extension['arg'] as CedarValueJson];
    return `${extension['fn']}(${args.map(inline).join(', ')})`;
  }
  const entries = Object.entries(value as CedarRecord);
  return entries.length === 0 ? '{}' : `{${entries.map(([key, item]) => `${key}: ${inline(item)}`).join(', ')}}`;
}

type Row = [label: string, value: string] | [label: string, value: string, nested: Row[]];

/** Rows with their labels aligned, level by level; a row with nested rows prints them indented below it. */
function layout(rows: readonly Row[], indent: string): string[] {
  const width = Math.max(0, ...rows.map(([label]) => label.length));
  const lines: string[] = [];
  for (const [label, value, nested] of rows) {
    lines.push(value ? `${indent}${label.padEnd(width)}  ${value}` : `${indent}${label}`);
    if (nested) lines.push(...layout(nested, `${indent}  `));
  }
  return lines;
}

/** A Cedar record as rows: nested records as nested rows, everything else on one line. */
function recordRows(record: CedarRecord): Row[] {
  return Object.entries(record).map(([key, value]): Row => {
    const nested = plainRecord(value);
    return nested && Object.keys(nested).length > 0 ? [key, '', recordRows(nested)] : [key, inline(value)];
  });
}

function tagRows(tags: CedarRecord, empty: string): Row {
  return Object.keys(tags).length === 0 ? ['tags', `{} ${empty}`] : ['tags', '', recordRows(tags)];
}

function factRows(facts: Record<string, FactView>, empty: string): Row {
  const names = Object.keys(facts);
  if (names.length === 0) return ['facts', `{} ${empty}`];
  const typeWidth = Math.max(...names.map((name) => facts[name]?.type.length ?? 0));
  const values = names.map((name) => {
    const fact = facts[name];
    return fact?.value !== undefined ? inline(fact.value) : `could not be computed: ${fact?.failure ?? ''}`;
  });
  // Descriptions line up after the computed values, unless a value is too long to wait for.
  const computed = names.flatMap((name, index) => (facts[name]?.value !== undefined ? [values[index]?.length ?? 0] : []));
  const valueWidth = Math.min(40, Math.max(0, ...computed));
  const rows = names.map((name, index): Row => {
    const fact = facts[name];
    const value = values[index] ?? '';
    const described = fact?.description ? `${value.padEnd(valueWidth)}  # ${fact.description}` : value;
    return [name, `${(fact?.type ?? '').padEnd(typeWidth)}  ${described}`];
  });
  return ['facts', '', rows];
}

/** Parents, attributes, then (for the object under admission) its declared facts, then tags. */
function entityRows(entity: EntityView, tagsEmpty: string, facts?: Row): Row[] {
  const rows: Row[] = [];
  if (entity.parents.length > 0) rows.push(['parents', entity.parents.map(uidText).join(', ')]);
  rows.push(...recordRows(entity.attributes));
  if (facts) rows.push(facts);
  rows.push(tagRows(entity.tags, tagsEmpty));
  return rows;
}

function describeObject(view: ObjectFacts): string {
  const { request } = view;
  const where = request.namespace && request.kind !== 'Namespace' ? `${request.namespace}/` : '';
  const sub = request.subResource ? ` (${request.subResource})` : '';
  const source = view.source === 'manifest' ? ', a manifest, as canopy audit judges it: a dry-run CREATE' : '';
  return `${request.operation} ${request.kind}${sub} ${where}${request.name || '<unnamed>'}  (${view.file}${source})`;
}

export function factsText(view: ObjectFacts, declaredAny: boolean): string {
  const kind = view.request.group ? `${view.request.group}/${view.request.kind}` : view.request.kind;
  const noFacts = declaredAny ? `(no declared fact applies to ${kind})` : '(no facts declared in policies/facts/)';
  const { resource } = view;
  const resourceRows: Row[] = entityRows(resource, '(no labels)', factRows(resource.facts, noFacts));
  if (resource.old) resourceRows.push(['old', uidText(resource.old), entityRows(resource.old, '(no labels)', factRows(resource.old.facts, noFacts))]);
  const principalRows: Row[] = [...recordRows(view.principal.attributes), ['groups', view.principal.groups.map((group) => uidText({ type: 'k8s::Group', id: group })).join(', ') || '(none)']];
  const sections: Row[] = [
    ['action', uidText(view.action)],
    ['resource', uidText(resource), resourceRows],
    ['context', '', recordRows(view.context)],
    ['principal', uidText(view.principal), principalRows],
  ];
  if (view.namespace) sections.push(['namespace', uidText(view.namespace), entityRows(view.namespace, '(no labels known: give them with --namespace-labels)')]);
  if (view.cluster) sections.push(['cluster', uidText(view.cluster), entityRows(view.cluster, '(no labels)')]);
  for (const workspace of view.workspaces ?? []) sections.push(['workspace', uidText(workspace), entityRows(workspace, '(no labels)')]);
  for (const other of view.others ?? []) sections.push(['entity', uidText(other), entityRows(other, '(none)')]);
  return [describeObject(view), ...layout(sections, '  ')].join('\n');
}

// ── The command ───────────────────────────────────────────────────────────────────────────────────

export async function factsFiles(files: string[], options: FactsOptions, io: CliIo): Promise<number> {
  const say = (message: string) => io.stderr.write(`canopy facts: ${message}\n`);
  let namespaceLabels: Record<string, string> | undefined;
  if (options.namespaceLabels !== undefined) {
    const parsed = parseLabels(options.namespaceLabels);
    if (typeof parsed === 'string') {
      say(`--namespace-labels: ${parsed}`);
      return EXIT.unreadable;
    }
    namespaceLabels = parsed;
  }
  const pipeline = new AdmissionPipeline();
  let set: CompiledPolicySet;
  try {
    set = await pipeline.activate(await loadPolicyDirectory(pathIn(io, options.policies)));
  } catch (error) {
    if (!isPolicyProblem(error)) throw error;
    say(`${options.policies}: ${error.message}`);
    return EXIT.unreadable;
  }
  let unreadable = 0;
  let printed = 0;
  const numbering: Numbering = { count: 0 };
  for (const file of files) {
    const { inputs, problems } = await readInputs(file, io, numbering);
    for (const problem of problems) say(problem);
    unreadable += problems.length;
    for (const input of inputs) {
      let view: ObjectFacts;
      try {
        const request = parseAdmissionReview(input.review);
        const cedar = pipeline.cedarRequestFor(input.review, namespaceLabels ? { namespaceLabels } : {}, { allDeclared: true });
        view = objectFacts(input, request, set, cedar);
      } catch (error) {
        const why = error instanceof AdmissionReviewError ? `not a valid AdmissionReview v1: ${error.message}` : `its facts could not be computed: ${messageOf(error)}`;
        say(`${input.label}: ${why}`);
        unreadable += 1;
        continue;
      }
      if (options.json) io.stdout.write(`${JSON.stringify(view)}\n`);
      else io.stdout.write(`${printed > 0 ? '\n' : ''}${factsText(view, set.facts.declarations.length > 0)}\n`);
      printed += 1;
    }
  }
  return unreadable > 0 ? EXIT.unreadable : EXIT.ok;
}
