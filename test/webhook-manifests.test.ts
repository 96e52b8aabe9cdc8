// webhooks/*.yaml: what the API server is told about Canopy.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from './helpers/fixtures.js';
import type { AdmissionWebhook as Webhook } from './helpers/webhooks.js';

interface Manifest {
  apiVersion: string;
  kind: string;
  webhooks: Webhook[];
}

const read = (file: string) => parse(readFileSync(`${REPO_ROOT}webhooks/${file}`, 'utf8')) as Manifest;

describe('webhooks/validating.yaml', () => {
  const manifest = read('validating.yaml');
  const webhook = manifest.webhooks[0] as Webhook;

  it('is a v1 ValidatingWebhookConfiguration calling /validate on the canopy Service', () => {
    expect(manifest.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(manifest.kind).toBe('ValidatingWebhookConfiguration');
    expect(manifest.webhooks).toHaveLength(1);
    expect(webhook.clientConfig.service).toMatchObject({ name: 'canopy', namespace: 'canopy-system', path: '/validate' });
    expect(webhook.admissionReviewVersions).toEqual(['v1']);
  });

  it('names the objects it judges, never "*" (test/webhook-scope.test.ts runs them through the API server\'s matching), and fails closed', () => {
    const rules = webhook.rules as { apiGroups: string[]; resources: string[]; operations: string[] }[];
    expect(rules.length).toBeGreaterThan(1);
    for (const rule of rules) {
      expect(rule.apiGroups).not.toContain('*');
      expect(rule.resources.filter((r) => r.includes('*'))).toEqual([]);
    }
    expect(rules.flatMap((r) => r.operations)).toEqual(expect.arrayContaining(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']));
    expect(webhook.failurePolicy).toBe('Fail');
    expect(webhook.sideEffects).toBe('None');
    expect(webhook.timeoutSeconds).toBeGreaterThan(0);
    expect(webhook.timeoutSeconds).toBeLessThanOrEqual(10);
  });

  it('can never lock kube-system, kube-node-lease or its own namespace', () => {
    expect(webhook.namespaceSelector.matchExpressions).toContainEqual({
      key: 'kubernetes.io/metadata.name',
      operator: 'NotIn',
      values: expect.arrayContaining(['kube-system', 'kube-node-lease', 'canopy-system']),
    });
  });

  it('cannot be applied with the placeholder caBundle by mistake', () => {
    // The API server decodes caBundle as standard base64: '-' is outside that alphabet, so apply fails.
    expect(/^[A-Za-z0-9+/]*={0,2}$/.test(webhook.clientConfig.caBundle ?? '')).toBe(false);
  });
});

describe('webhooks/mutating.yaml', () => {
  const manifest = read('mutating.yaml');
  const webhook = manifest.webhooks[0] as Webhook;
  const validating = read('validating.yaml').webhooks[0] as Webhook;

  it('is a v1 MutatingWebhookConfiguration calling /mutate on the canopy Service', () => {
    expect(manifest.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(manifest.kind).toBe('MutatingWebhookConfiguration');
    expect(webhook.clientConfig.service).toMatchObject({ name: 'canopy', namespace: 'canopy-system', path: '/mutate' });
    expect(webhook.admissionReviewVersions).toEqual(['v1']);
  });

  it('is reinvoked when needed, fails closed and has no side effects', () => {
    expect(webhook.reinvocationPolicy).toBe('IfNeeded');
    expect(webhook.failurePolicy).toBe('Fail');
    expect(webhook.sideEffects).toBe('None');
  });

  it('sees creates and updates of the objects it judges, by name, never a subresource', () => {
    const rules = webhook.rules as { apiGroups: string[]; resources: string[]; operations: string[] }[];
    for (const rule of rules) {
      expect(rule.apiGroups).not.toContain('*');
      expect(rule.resources.filter((r) => r.includes('*') || r.includes('/'))).toEqual([]);
      expect(rule.operations).toEqual(['CREATE', 'UPDATE']);
    }
  });

  it('has the same namespace exclusions as the validating webhook', () => {
    expect(webhook.namespaceSelector).toEqual(validating.namespaceSelector);
  });
});
