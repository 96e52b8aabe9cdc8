// Bypasses found by attacking Canopy as a tenant, each closed and proved here through the webhooks
// over HTTPS with the starter policies: a Binding through the top-level `bindings` resource, a tenant
// rewriting the labels that decide its tenant and data class, env values of custom resources in
// recorded requests, and images from anyone's account on a shared registry.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../src/kubernetes/admission/index.js';
import type { RequestFacts } from '../src/policy/translate/index.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { startServer, type TestServer } from './helpers/https.js';
import { admissionReview, type ReviewOptions } from './helpers/review.js';

type Json = Record<string, unknown>;
const REGION = 'topology.kubernetes.io/region';

interface Answer {
  allowed: boolean;
  message: string;
}

/** The namespaces and nodes of a German cluster, as its informers would know them. */
const NAMESPACE_LABELS: Record<string, Record<string, string>> = {
  payments: { team: 'payments', 'canopy.io/data-class': 'restricted' },
  shop: { team: 'shop' },
};
const NODE_LABELS: Record<string, Record<string, string>> = {
  'node-de': { [REGION]: 'eu-central-1' },
  'node-us': { [REGION]: 'us-east-1' },
};

function clusterFacts(request: AdmissionRequest): Promise<RequestFacts> {
  return Promise.resolve({
    cluster: { name: 'de-1', region: 'eu-central-1', jurisdiction: 'DE', provider: 'aws', environment: 'staging', labels: {} },
    namespaceLabels: NAMESPACE_LABELS[request.namespace] ?? {},
    nodeLabels: (name: string) => NODE_LABELS[name],
  });
}

async function judge(server: TestServer, endpoint: '/validate' | '/mutate', object: Json, options: ReviewOptions = {}): Promise<Answer> {
  const result = await server.post(endpoint, JSON.stringify(admissionReview(object, options)));
  expect(result.status).toBe(200);
  const { response } = result.json() as { response: { allowed: boolean; status?: { message?: string } } };
  return { allowed: response.allowed, message: response.status?.message ?? '' };
}

const namespace = (labels: Record<string, string>): Json => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments', labels } });
const TENANT = { username: 'alice', groups: ['payments', 'system:authenticated'] };
const PLATFORM_ADMIN = { username: 'pat', groups: ['platform-admins', 'system:authenticated'] };

/** A Namespace UPDATE of payments, as the API server sends it (request.namespace is its own name). */
function relabel(before: Record<string, string>, after: Record<string, string>, userInfo: Json): Json {
  const review = admissionReview(namespace(after), { operation: 'UPDATE', oldObject: namespace(before), userInfo });
  (review['request'] as Json)['namespace'] = 'payments';
  return review;
}

async function validate(server: TestServer, review: Json): Promise<Answer> {
  const result = await server.post('/validate', JSON.stringify(review));
  expect(result.status).toBe(200);
  const { response } = result.json() as { response: { allowed: boolean; status?: { message?: string } } };
  return { allowed: response.allowed, message: response.status?.message ?? '' };
}

const pod = (image: string): Json => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'tool', namespace: 'shop' },
  spec: { containers: [{ name: 'tool', image, resources: { requests: { cpu: '10m', memory: '8Mi' }, limits: { memory: '8Mi' } } }] },
});

/** Env values planted in custom resources that carry containers; each must stay out of the recording. */
const PLANTED = {
  'Argo Workflow container env': 'PLANTED-argo-container-env-5b1e',
  'Argo Workflow script env': 'PLANTED-argo-script-env-9c4d',
  'Argo Workflow init container env': 'PLANTED-argo-init-env-2a7f',
  'Tekton TaskRun step env': 'PLANTED-tekton-step-env-e30c',
  'Tekton TaskRun sidecar env': 'PLANTED-tekton-sidecar-env-71d8',
  'Tekton TaskRun last-applied env': 'PLANTED-tekton-lastapplied-env-4f92',
} as const;

const argoWorkflow: Json = {
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Workflow',
  metadata: { name: 'etl', namespace: 'shop' },
  spec: {
    entrypoint: 'main',
    templates: [
      {
        name: 'main',
        container: { image: 'docker.io/library/busybox:1.36', command: ['sh', '-c', 'env'], env: [{ name: 'DB_PASSWORD', value: PLANTED['Argo Workflow container env'] }] },
        initContainers: [{ name: 'fetch', image: 'docker.io/library/busybox:1.36', env: [{ name: 'TOKEN', value: PLANTED['Argo Workflow init container env'] }] }],
      },
      { name: 'report', script: { image: 'docker.io/library/python:3.12', source: 'print(1)', env: [{ name: 'API_KEY', value: PLANTED['Argo Workflow script env'] }] } },
    ],
  },
};

const tektonTaskRunSpec: Json = {
  taskSpec: {
    steps: [{ name: 'build', image: 'docker.io/library/golang:1.22', script: 'go build ./...', env: [{ name: 'GITHUB_TOKEN', value: PLANTED['Tekton TaskRun step env'] }] }],
    sidecars: [{ name: 'cache', image: 'docker.io/library/redis:7', env: [{ name: 'REDIS_PASSWORD', value: PLANTED['Tekton TaskRun sidecar env'] }] }],
  },
};
const tektonTaskRun: Json = {
  apiVersion: 'tekton.dev/v1',
  kind: 'TaskRun',
  metadata: {
    name: 'build-1',
    namespace: 'shop',
    annotations: {
      'kubectl.kubernetes.io/last-applied-configuration': `${JSON.stringify({
        apiVersion: 'tekton.dev/v1',
        kind: 'TaskRun',
        metadata: { name: 'build-1', namespace: 'shop' },
        spec: { taskSpec: { steps: [{ name: 'build', image: 'docker.io/library/golang:1.22', env: [{ name: 'GITHUB_TOKEN', value: PLANTED['Tekton TaskRun last-applied env'] }] }] } },
      })}\n`,
    },
  },
  spec: tektonTaskRunSpec,
};

const binding = (node: string): Json => ({ apiVersion: 'v1', kind: 'Binding', metadata: { name: 'batch', namespace: 'payments' }, target: { apiVersion: 'v1', kind: 'Node', name: node } });
const BINDINGS = { resource: { group: '', version: 'v1', resource: 'bindings' } };

describe('bypasses found by attacking Canopy as a tenant', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ policies: STARTER_POLICIES, facts: clusterFacts });
  });
  afterAll(async () => {
    await server.close();
  });

  describe('8. binding a pod through the top-level bindings resource', () => {
    it('denies POST bindings putting a restricted pod on a node outside its regions, as pods/binding is', async () => {
      const viaSubresource = await judge(server, '/validate', binding('node-us'), { subResource: 'binding', resource: { group: '', version: 'v1', resource: 'pods' } });
      expect(viaSubresource.allowed).toBe(false);
      const viaBindings = await judge(server, '/validate', binding('node-us'), BINDINGS);
      expect(viaBindings.allowed).toBe(false);
      expect(viaBindings.message).toContain("[sovereignty.binding-region] Node node-us is in region 'us-east-1'");
    });

    it('admits POST bindings putting a restricted pod on a node in its regions', async () => {
      expect((await judge(server, '/validate', binding('node-de'), BINDINGS)).allowed).toBe(true);
    });

    it('denies POST bindings to a node whose region is unknown', async () => {
      expect((await judge(server, '/validate', binding('node-gone'), BINDINGS)).message).toContain('[sovereignty.binding-region]');
    });
  });

  describe('9. the Namespace labels that decide tenant and data class', () => {
    const labels = { team: 'payments', 'canopy.io/data-class': 'restricted' };

    it('denies a tenant removing canopy.io/data-class from its Namespace', async () => {
      const result = await validate(server, relabel(labels, { team: 'payments' }, TENANT));
      expect(result.allowed).toBe(false);
      expect(result.message).toContain('[baseline.protected-namespace-labels] Only members of platform-admins, system:masters may add, remove or change the labels canopy.io/data-class of a Namespace');
    });

    it('denies a tenant renaming its team or tenant label', async () => {
      expect((await validate(server, relabel(labels, { ...labels, team: 'shop' }, TENANT))).message).toContain('[baseline.protected-namespace-labels]');
      expect((await validate(server, relabel(labels, { ...labels, 'canopy.io/tenant': 'shop' }, TENANT))).message).toContain('the labels canopy.io/tenant of');
    });

    it('allows a platform admin to remove canopy.io/data-class', async () => {
      expect((await validate(server, relabel(labels, { team: 'payments' }, PLATFORM_ADMIN))).allowed).toBe(true);
    });

    it('allows a tenant to change a label that is not protected', async () => {
      expect((await validate(server, relabel(labels, { ...labels, 'cost-centre': '4711' }, TENANT))).allowed).toBe(true);
    });
  });

  describe('11. default allowed image sources on shared registries', () => {
    it("denies an image from someone else's account on ghcr.io or quay.io by supply-chain.allowed-sources", async () => {
      for (const image of ['ghcr.io/someone-else/tool:1', 'quay.io/someone-else/tool:1']) {
        const result = await judge(server, '/validate', pod(image));
        expect(result.allowed).toBe(false);
        expect(result.message).toContain(`[supply-chain.allowed-sources] Images ${image} do not come from an allowed source here`);
      }
    });

    it("admits an image from the organisation's path on ghcr.io and quay.io", async () => {
      for (const image of ['ghcr.io/example-org/tool:1', 'quay.io/example-org/tool:1']) expect((await judge(server, '/validate', pod(image))).allowed).toBe(true);
    });
  });
});

describe('10. --record-requests and env values of custom resources', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'canopy-bypasses-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('records an Argo Workflow and a Tekton TaskRun with no env value in cleartext', async () => {
    const server = await startServer({ policies: STARTER_POLICIES, recordRequests: dir });
    try {
      for (const object of [argoWorkflow, tektonTaskRun]) {
        for (const endpoint of ['/mutate', '/validate'] as const) expect((await judge(server, endpoint, object)).allowed).toBe(true);
      }
      const updated = { ...tektonTaskRun, metadata: { ...(tektonTaskRun['metadata'] as Json), labels: { rerun: 'yes' } } };
      await judge(server, '/validate', updated, { operation: 'UPDATE', oldObject: tektonTaskRun });
    } finally {
      await server.close();
    }
    const text = readdirSync(dir)
      .map((file) => readFileSync(path.join(dir, file), 'utf8'))
      .join('');
    const records = text.trim().split('\n');
    expect(records).toHaveLength(5);
    // The requests were recorded, with the variables' names: only the values are gone.
    for (const name of ['DB_PASSWORD', 'API_KEY', 'TOKEN', 'GITHUB_TOKEN', 'REDIS_PASSWORD']) expect(text).toContain(name);
    const leaked = Object.entries(PLANTED).filter(([, value]) => text.includes(value) || text.includes(Buffer.from(value).toString('base64')));
    expect(leaked.map(([where]) => where)).toEqual([]);
  });
});
