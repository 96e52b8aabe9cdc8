// Reading the Kubernetes API: a small client and reflectors that keep only what policies read.
export { KubeApiError, KubeClient, loadKubeConfig, type JsonPatchOperation, type KubeConnection, type ListResult, type WatchEvent } from './client.js';
export { clientNode } from './client-node.js';
export { keyOf, Reflector, type Informer, type ReflectorOptions } from './reflector.js';
