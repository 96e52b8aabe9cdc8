// The one mapping from a Kubernetes API group to the name Cedar policies see. Policies compare
// `resource.apiGroup` with these names, so there must be exactly one spelling per group: the group as
// Kubernetes writes it ("networking.k8s.io", never "networking"), and "core" for the unnamed core group.
export const CORE_API_GROUP = 'core';

export function cedarApiGroup(group: string): string {
  return group === '' ? CORE_API_GROUP : group.toLowerCase();
}
