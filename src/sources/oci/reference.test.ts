import { describe, expect, it } from 'vitest';
import { parseImageReference, ImageReferenceError } from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('image references', () => {
  it.each([
    ['nginx', 'docker.io', 'library/nginx', 'latest', undefined, 'docker.io/library/nginx:latest'],
    ['nginx:1.25', 'docker.io', 'library/nginx', '1.25', undefined, 'docker.io/library/nginx:1.25'],
    ['bitnami/redis', 'docker.io', 'bitnami/redis', 'latest', undefined, 'docker.io/bitnami/redis:latest'],
    ['index.docker.io/library/nginx:1', 'docker.io', 'library/nginx', '1', undefined, 'docker.io/library/nginx:1'],
    ['Registry.Example.COM/team/app:v2', 'registry.example.com', 'team/app', 'v2', undefined, 'registry.example.com/team/app:v2'],
    ['127.0.0.1:5000/signed/app:1', '127.0.0.1:5000', 'signed/app', '1', undefined, '127.0.0.1:5000/signed/app:1'],
    ['localhost/app', 'localhost', 'app', 'latest', undefined, 'localhost/app:latest'],
    [`ghcr.io/org/app@${D}`, 'ghcr.io', 'org/app', undefined, D, `ghcr.io/org/app@${D}`],
    [`ghcr.io/org/app:1.2@${D}`, 'ghcr.io', 'org/app', '1.2', D, `ghcr.io/org/app:1.2@${D}`],
  ])('%s', (input, registry, repository, tag, digest, normalized) => {
    expect(parseImageReference(input)).toEqual({ registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}), normalized });
  });

  it.each(['', 'app@sha256:short', 'app:bad/tag', 'app::1', 'a//b', 'library/UPPER'])('refuses %j', (input) => {
    expect(() => parseImageReference(input)).toThrow(ImageReferenceError);
  });
});
