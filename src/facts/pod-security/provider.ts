// Pod Security as a fact source: data.ts reads data/pod-security.yaml, facts.ts derives `context.podSecurity`.
import type { FactProvider } from '../provider.js';
import { POD_SECURITY_DATA, readPodSecurityData, type PodSecurityData } from './data.js';
import { podSecurityFacts, type PodSecurityFacts, type PodSecurityInputs } from './facts.js';

/** Pod Security as a fact source: data/pod-security.yaml, `context.podSecurity`. */
export const podSecurityProvider: FactProvider<PodSecurityData, PodSecurityInputs, PodSecurityFacts> = {
  name: 'pod-security',
  dataKeys: ['pod-security'],
  dataSchemas: { 'pod-security': POD_SECURITY_DATA },
  contextAttribute: 'podSecurity',
  read: (data) => readPodSecurityData(data['pod-security']),
  derive: (request, data, inputs) => podSecurityFacts(data, request, inputs),
};
