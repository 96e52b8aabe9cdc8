// Image references normalised the way the container runtime reads them (distribution/reference):
// `nginx` is docker.io/library/nginx:latest, `ghcr.io/org/app:1@sha256:…` keeps both tag and digest,
// and the registry host is lower-cased.
import { CanopyError } from '../../operations/errors/index.js';

export interface ImageReference {
  /** Registry host, with port: "docker.io", "127.0.0.1:5000". */
  registry: string;
  /** Repository path within the registry: "library/nginx". */
  repository: string;
  tag?: string;
  digest?: string;
  /** As the runtime would pull it: registry/repository[:tag][@digest], with the implicit tag "latest". */
  normalized: string;
}

export class ImageReferenceError extends CanopyError {
  constructor(reference: string, why: string) {
    super('image-reference', `image reference "${reference}" is not valid: ${why}`);
  }
}

const DEFAULT_REGISTRY = 'docker.io';
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const REGISTRY = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:]+\])(?::[0-9]+)?$/;

export function parseImageReference(reference: string): ImageReference {
  let rest = reference.trim();
  if (!rest) throw new ImageReferenceError(reference, 'it is empty');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new ImageReferenceError(reference, `"${digest}" is not a digest`);
    if (digest.startsWith('sha256:') && !SHA256.test(digest)) throw new ImageReferenceError(reference, 'a sha256 digest has 64 lower-case hex characters');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new ImageReferenceError(reference, `"${tag}" is not a tag`);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  // The first component is a registry when it looks like a host: a dot, a port, or localhost.
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  let registry = hasRegistry ? first.toLowerCase() : DEFAULT_REGISTRY;
  let repository = hasRegistry ? rest.slice(slash + 1) : rest;
  if (!REGISTRY.test(registry)) throw new ImageReferenceError(reference, `"${registry}" is not a registry host[:port]`);
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) throw new ImageReferenceError(reference, `"${component}" is not a valid repository name component (lower case letters, digits, separators)`);
  }
  if (!tag && !digest) tag = 'latest';
  const normalized = `${registry}/${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
  return { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}), normalized };
}
