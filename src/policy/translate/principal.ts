// Who is asking: the request's userInfo as a Cedar principal with its groups as parents.
import type { EntityJson } from '../cedar/index.js';
import type { UserInfo } from '../../kubernetes/admission/index.js';
import type { EntityRef } from '../engine/index.js';

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const NODE_PREFIX = 'system:node:';

export interface PrincipalEntities {
  principal: EntityRef;
  entities: EntityJson[];
}

function principalOf(username: string): { ref: EntityRef; attrs: Record<string, string> } {
  if (username.startsWith(SERVICE_ACCOUNT_PREFIX)) {
    const [namespace, name, ...rest] = username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
    if (namespace && name && rest.length === 0) {
      return { ref: { type: 'k8s::ServiceAccount', id: `${namespace}/${name}` }, attrs: { name, namespace } };
    }
  }
  if (username.startsWith(NODE_PREFIX) && username.length > NODE_PREFIX.length) {
    const name = username.slice(NODE_PREFIX.length);
    return { ref: { type: 'k8s::Node', id: name }, attrs: { name } };
  }
  return { ref: { type: 'k8s::User', id: username }, attrs: { name: username } };
}

export function principalEntities(userInfo: UserInfo): PrincipalEntities {
  const { ref, attrs } = principalOf(userInfo.username);
  const groups = [...new Set(userInfo.groups)];
  const parents = groups.map((group) => ({ type: 'k8s::Group', id: group }));
  const entities: EntityJson[] = [
    { uid: ref, attrs, parents },
    ...groups.map((group) => ({ uid: { type: 'k8s::Group', id: group }, attrs: { name: group }, parents: [] })),
  ];
  return { principal: ref, entities };
}
