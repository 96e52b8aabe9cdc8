// An evaluation worker: its own Cedar instance, its own copy of each policy set (preparsed sets and
// compiled CEL cannot be shared between threads) and its own decision cache. It judges whole validating
// requests (the pool's `judge`: declared facts, translation, evaluation, decision, all CPU-bound) and
// evaluates the mutating webhook's plans, one message at a time, so the main thread's event loop is left
// with TLS, HTTP and the facts that need its caches.
import { parentPort } from 'node:worker_threads';
import { parseAdmissionReview } from '../kubernetes/admission/index.js';
import { failedDecision } from '../policy/decision/index.js';
import type { CedarRequest } from '../policy/engine/index.js';
import { revivedPolicySet } from '../policy/set/portable.js';
import { preparePolicySet, type CompiledPolicySet } from '../policy/set/prepare.js';
import { revivedFacts } from '../policy/translate/index.js';
import { messageOf } from '../operations/errors/index.js';
import { DecisionCache } from './decision-cache.js';
import { judgeHere } from './pipeline.js';
import { warmUpRequests } from './warm-up.js';
import { WORKER_SLOTS, type FromWorker, type ToWorker } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('pipeline/worker.js runs only as a worker thread');

/** The sets this worker holds, oldest first, each in a slot of its own. */
const held: { slot: string; set: CompiledPolicySet }[] = [];
let cache: DecisionCache | undefined;

function load(message: Extract<ToWorker, { type: 'load' }>): FromWorker {
  try {
    if ((cache?.size ?? 0) !== message.decisionCacheSize) cache = message.decisionCacheSize > 0 ? new DecisionCache(message.decisionCacheSize) : undefined;
    if (held.some((entry) => entry.set.revision === message.set.revision)) return { type: 'loaded', id: message.id };
    // The oldest set makes room; the new one takes a slot no held set uses, so preparsing into it
    // cannot overwrite a set that requests may still name.
    if (held.length >= WORKER_SLOTS) held.shift();
    const used = new Set(held.map((entry) => entry.slot));
    const slot = Array.from({ length: WORKER_SLOTS }, (_, index) => `worker/${index}`).find((name) => !used.has(name)) ?? 'worker/0';
    const set = preparePolicySet(revivedPolicySet(message.set), slot);
    // The warm-up makes this worker's sets for the common requests and gets its code compiled; it also
    // checks, in this thread, what the main thread checked: that the set can judge Canopy's requests.
    warmUpRequests(set);
    held.push({ slot, set });
    return { type: 'loaded', id: message.id };
  } catch (error) {
    return { type: 'loaded', id: message.id, error: messageOf(error) };
  }
}

function judge(set: CompiledPolicySet, message: Extract<ToWorker, { type: 'judge' }>): FromWorker {
  const before = cache ? cache.hits + cache.misses : 0;
  const hits = cache?.hits ?? 0;
  let decision;
  try {
    // The main thread parsed the same text into the same request before sending it.
    decision = judgeHere(set, parseAdmissionReview(JSON.parse(message.review)), revivedFacts(message.facts), cache, message.given);
  } catch (error) {
    decision = failedDecision(`the evaluation worker could not judge the request: ${messageOf(error)}`, set.revision);
  }
  const asked = cache ? cache.hits + cache.misses > before : false;
  return {
    type: 'judged',
    id: message.id,
    decision: JSON.stringify(decision),
    ...(asked ? { cache: (cache?.hits ?? 0) > hits ? 'hit' : 'miss' } : {}),
    cacheEntries: cache?.entriesHeld ?? 0,
  } as const;
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'load') {
    port.postMessage(load(message));
    return;
  }
  const set = held.find((entry) => entry.set.revision === message.revision)?.set;
  if (!set) {
    port.postMessage({ type: 'unknown-revision', id: message.id } satisfies FromWorker);
    return;
  }
  if (message.type === 'judge') {
    port.postMessage(judge(set, message));
    return;
  }
  const planned = { shape: message.shape, mask: message.mask, request: JSON.parse(message.request) as CedarRequest, ...(message.check ? { check: JSON.parse(message.check) as CedarRequest } : {}) };
  port.postMessage({ type: 'evaluated', id: message.id, evaluation: JSON.stringify(set.engine.evaluatePlanned(planned, message.kind)) } satisfies FromWorker);
});
