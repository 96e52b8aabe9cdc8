// @kubernetes/client-node parses kubeconfig files and the in-cluster service account, and gives each
// request its credentials (loadKubeConfig, KubeClient); requests themselves go over sources/http. It
// takes about half a second to import (its generated API clients), and most canopy commands (validate,
// test, fmt, eval, bundle, --help) never talk to a cluster: it is loaded the first time one does.
// Through require, which Node (>= 20.19, see package.json engines) lets load an ES module synchronously,
// so that loading a kubeconfig stays a plain call. Types are imported as types only.
import { createRequire } from 'node:module';
import type * as ClientNode from '@kubernetes/client-node';

let loaded: typeof ClientNode | undefined;

/** The @kubernetes/client-node module, loaded on first use. */
export function clientNode(): typeof ClientNode {
  loaded ??= createRequire(import.meta.url)('@kubernetes/client-node') as typeof ClientNode;
  return loaded;
}
