// Two stand-in Pod Security controls (a baseline and a restricted one) and a policy directory that
// holds them instead of the shipped pack: for tests of the level mechanism and of audit reports, which
// are about how controls are applied, not about what the pack's controls check.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { STARTER_POLICIES } from './fixtures.js';

export const STAND_IN_CONTROLS = `@id("pod-security.baseline.test-privileged")
@level("baseline")
@advice("Privileged containers are not allowed: {{ resource.privilegedContainers }}.")
forbid (principal, action in [k8s::Action::"create", k8s::Action::"update"], resource is k8s::Workload)
when { context.subresource == "" && !resource.privilegedContainers.isEmpty() }
unless { context has podSecurity && (context.podSecurity.specUnchanged || context.podSecurity.exceptions.contains("pod-security.baseline.test-privileged")) };

@id("pod-security.restricted.test-host-network")
@level("restricted")
@advice("hostNetwork is not allowed.")
forbid (principal, action in [k8s::Action::"create", k8s::Action::"update"], resource is k8s::Workload)
when { context.subresource == "" && resource.hostNetwork }
unless { context has podSecurity && (context.podSecurity.specUnchanged || context.podSecurity.exceptions.contains("pod-security.restricted.test-host-network")) };
`;

/** A date `offset` days from today, as exceptions write expiry dates. */
export const day = (offset: number): string => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

/** Two exceptions for team-a: cni-agent's in force for a year, old-agent's expired yesterday. */
export const EXCEPTIONS = `exceptions:
  - controls: [pod-security.baseline.test-privileged]
    namespace: team-a
    name: cni-agent
    owner: network-team@example.com
    reason: programs the node's network
    expires: ${day(365)}
  - controls: [pod-security.baseline.test-privileged]
    namespace: team-a
    labels: {app: old-agent}
    owner: network-team@example.com
    reason: was needed until last week
    expires: ${day(-1)}
`;

/** The shipped policies with the pack replaced by the stand-in controls, and `data` as data/pod-security.yaml. */
export function standInPolicies(data: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'canopy-pss-'));
  cpSync(STARTER_POLICIES, dir, { recursive: true });
  rmSync(path.join(dir, 'pod-security'), { recursive: true, force: true });
  writeFileSync(path.join(dir, 'baseline', 'test-controls.cedar'), STAND_IN_CONTROLS);
  writeFileSync(path.join(dir, 'data', 'pod-security.yaml'), data);
  return dir;
}
