// An evaluation worker: its own Cedar instance with its own preparsed sets (they cannot be shared between
// threads), answering one evaluation at a time so the main thread's event loop never blocks on Cedar.
import { parentPort } from 'node:worker_threads';
import type { CedarRequest } from './evaluate.js';
import { ScopedPolicySet } from './scoped-policy-set.js';
import { WORKER_SLOTS, type FromWorker, type ToWorker } from './worker-protocol.js';
import { messageOf } from '../../operations/errors/index.js';

const port = parentPort;
if (!port) throw new Error('engine/worker.js runs only as a worker thread');

/** The sets this worker holds, oldest first, each in a slot of its own. */
const held: ScopedPolicySet[] = [];

function load(message: Extract<ToWorker, { type: 'load' }>): FromWorker {
  try {
    const existing = held.find((set) => set.set.revision === message.set.revision);
    if (existing) return { type: 'loaded', id: message.id };
    // The oldest set makes room; the new one takes a slot no held set uses, so preparsing into it
    // cannot overwrite a set that requests may still name.
    if (held.length >= WORKER_SLOTS) held.shift();
    const used = new Set(held.map((set) => set.slot));
    const slot = Array.from({ length: WORKER_SLOTS }, (_, index) => `worker/${index}`).find((name) => !used.has(name)) ?? 'worker/0';
    const set = new ScopedPolicySet(message.set, slot);
    // The warm-up makes this worker's sets for the common requests and gets its code compiled.
    for (const request of message.warmUp) {
      for (const kind of ['validating', 'mutations'] as const) {
        const evaluation = set.evaluate(request, kind);
        if (!evaluation.ok) throw new Error(evaluation.message);
      }
    }
    held.push(set);
    return { type: 'loaded', id: message.id };
  } catch (error) {
    return { type: 'loaded', id: message.id, error: messageOf(error) };
  }
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'load') {
    port.postMessage(load(message));
    return;
  }
  const set = held.find((candidate) => candidate.set.revision === message.revision);
  const answer: FromWorker = set
    ? { type: 'evaluated', id: message.id, evaluation: set.evaluatePlanned({ shape: message.shape, mask: message.mask, request: JSON.parse(message.request) as CedarRequest, ...(message.check ? { check: JSON.parse(message.check) as CedarRequest } : {}) }, message.kind) }
    : { type: 'unknown-revision', id: message.id };
  port.postMessage(answer);
});
