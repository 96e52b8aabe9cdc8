// The one place that loads the Cedar engine. cedar-wasm's root ESM entry needs an experimental flag on
// Node 20, so we load its CommonJS build synchronously (about 25 ms); every module that talks to Cedar
// imports it from here, so a worker thread that imports this file gets its own wasm instance.
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';

export type {
  AuthorizationAnswer,
  DetailedError,
  EntityJson,
  EntityUidJson,
  CedarValueJson,
  PolicyJson,
  SourceLocation,
} from '@cedar-policy/cedar-wasm/nodejs';

const require = createRequire(import.meta.url);

// Node 20's V8 can crash ("Fatal error: unreachable code" in the deoptimizer) when TurboFan has
// inlined a JS-to-wasm call into optimised code that later deoptimises: seen here under load and in
// the audit benchmark. Turning that inlining off before the engine is loaded avoids it at no
// measurable cost (npm run bench: about the same objects/s).
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

// V8 optimises a wasm function once it has run a budget's worth of code. Loading a policy set runs
// Cedar's parser and validator (large functions, used at load and seldom after) past the default
// budget, and optimising them cost a serve start about 0.8 of its 2.9 s of CPU. A hundred times the
// budget still optimises what every request runs within the first seconds of load: `canopy serve
// --decision-cache-size 0` under autocannon, 16 connections, 10 s, answered 1,647 and 1,808 requests/s
// with the default and 1,735 and 1,653 with this (2 cores, Intel Xeon, Node 20.20.2).
setFlagsFromString('--wasm-tiering-budget=180000000');

export const cedar: typeof CedarWasm = require('@cedar-policy/cedar-wasm/nodejs') as typeof CedarWasm;
