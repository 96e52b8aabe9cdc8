// Judging off the event loop: a fixed pool of worker threads, each with its own Cedar instance, its own
// copy of the policy set (preparsed sets and compiled CEL cannot be shared between threads) and its own
// decision cache. A worker judges a whole validating request (worker.ts): declared facts, translation,
// evaluation, decision; the event loop keeps TLS, HTTP and the facts that need its caches. A policy set
// is loaded into every worker before it becomes active; a worker that dies is replaced and its requests
// are answered with a failure (which denies).
//
// Hand-written rather than a pool library: activation must reach every worker (a task queue such as
// piscina's hands each task to whichever worker is free), and a replaced worker must be loaded before it
// takes requests.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Decision } from '../policy/decision/index.js';
import type { Evaluation, PolicyKind, RequestScope } from '../policy/engine/index.js';
import type { PortablePolicySet } from '../policy/set/index.js';
import type { PortableFacts } from '../policy/translate/index.js';
import type { FromWorker, GivenQuota, ToWorker } from './worker-protocol.js';
import { messageOf } from '../operations/errors/index.js';

/** The built worker. From the TypeScript sources (tests) it is the build's copy: Node runs only JavaScript in a worker. */
function workerUrl(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith('.ts') ? new URL('../../dist/pipeline/worker.js', here) : new URL('./worker.js', here);
}

type Pending = { resolve: (answer: FromWorker) => void };

interface PoolWorker {
  worker: Worker;
  /** Requests sent and not yet answered, by message id. */
  pending: Map<number, Pending>;
  /** False until it holds the active set (a replacement is loaded first). */
  ready: boolean;
  /** How many evaluations its decision cache held at its last answer. */
  cacheEntries: number;
}

export interface PoolStatus {
  workers: number;
  ready: number;
  inFlight: number;
  /** Workers that died and were replaced since the pool started. */
  replaced: number;
}

/**
 * How many more pending requests than the least busy worker an object's own worker may have and still
 * be given the object's request: a little queueing for a decision-cache hit, never a hot spot.
 */
const AFFINITY_SLACK = 2;

/** FNV-1a: a cheap, well-spread hash of a short string. */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193);
  return hash >>> 0;
}

/** Why a request got no answer from a worker (the pool's own 'lost' and 'unsent'), or undefined when it got one. */
function undelivered(answer: FromWorker): string | undefined {
  if (answer.type === 'lost') return `the evaluation worker stopped before answering: ${answer.reason}`;
  if (answer.type === 'unsent') return `the request could not be sent to an evaluation worker: ${answer.reason}`;
  return undefined;
}

/** What a request gets when the worker holding it can no longer answer. */
export const UNKNOWN_REVISION = 'unknown-revision';

export class EvaluationPool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 1;
  private replaced = 0;
  private closed = false;
  /** The sets loaded so far (newest last), so a replacement worker gets what the others hold. */
  private loaded: { set: PortablePolicySet; decisionCacheSize: number }[] = [];
  private waitingForReady: (() => void)[] = [];

  /** `size` workers; by default one for each core. */
  constructor(readonly size: number = availableParallelism(), private readonly onWorkerExit?: (reason: string) => void) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`an evaluation pool needs at least one worker (got ${size})`);
    for (let index = 0; index < size; index++) this.workers.push(this.spawn(true));
  }

  private spawn(ready: boolean): PoolWorker {
    const worker = new Worker(workerUrl(), { execArgv: [] });
    // Workers never keep a process alive on their own: a server's sockets do, a CLI exits when done.
    worker.unref();
    const entry: PoolWorker = { worker, pending: new Map(), ready, cacheEntries: 0 };
    worker.on('message', (message: FromWorker) => {
      const pending = entry.pending.get(message.id);
      if (!pending) return;
      entry.pending.delete(message.id);
      if (message.type === 'judged') entry.cacheEntries = message.cacheEntries;
      pending.resolve(message);
    });
    worker.on('error', (error) => this.lost(entry, `it failed: ${error.message}`));
    worker.on('exit', (code) => this.lost(entry, `it exited with code ${code}`));
    return entry;
  }

  /** A worker died: answer what it held (as failures, so they deny), and put a loaded replacement in its place. */
  private lost(entry: PoolWorker, reason: string): void {
    const index = this.workers.indexOf(entry);
    if (index < 0) return;
    this.workers.splice(index, 1);
    for (const [id, pending] of entry.pending) pending.resolve({ type: 'lost', id, reason });
    entry.pending.clear();
    if (this.closed) return;
    this.replaced += 1;
    this.onWorkerExit?.(reason);
    const replacement = this.spawn(false);
    this.workers.push(replacement);
    const ready = () => {
      replacement.ready = true;
      for (const wake of this.waitingForReady.splice(0)) wake();
    };
    this.loadInto(replacement).then(ready, (error: unknown) => {
      // It answers "unknown revision" for a set it could not load, and such requests are denied.
      this.onWorkerExit?.(`its replacement could not load the policy set: ${messageOf(error)}`);
      ready();
    });
  }

  private async loadInto(entry: PoolWorker): Promise<void> {
    for (const { set, decisionCacheSize } of this.loaded) {
      const answer = await this.send(entry, (id) => ({ type: 'load', id, set, decisionCacheSize }));
      if (answer.type === 'loaded' && answer.error) throw new Error(answer.error);
    }
  }

  private send(entry: PoolWorker, message: (id: number) => ToWorker): Promise<FromWorker> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      entry.pending.set(id, { resolve });
      try {
        entry.worker.postMessage(message(id));
      } catch (error) {
        // Something in the message cannot be cloned (a fact holding a function): answered, not thrown.
        entry.pending.delete(id);
        resolve({ type: 'unsent', id, reason: messageOf(error) });
      }
    });
  }

  /**
   * Prepares a set in every worker and runs the warm-up requests through it; resolves once all hold it.
   * Each worker remembers up to `decisionCacheSize` evaluations (0: none). Throws with the first
   * worker's error if any refused it (the active set is not affected).
   */
  async load(set: PortablePolicySet, decisionCacheSize: number): Promise<void> {
    if (this.closed) throw new Error('the evaluation pool is closed');
    const answers = await Promise.all(this.workers.map((entry) => this.send(entry, (id) => ({ type: 'load', id, set, decisionCacheSize }))));
    for (const answer of answers) {
      if (answer.type === 'loaded' && answer.error) throw new Error(answer.error);
      if (answer.type === 'lost') throw new Error(`an evaluation worker stopped while loading the set: ${answer.reason}`);
      if (answer.type === 'unsent') throw new Error(`the set could not be sent to the evaluation workers: ${answer.reason}`);
    }
    this.loaded = [...this.loaded.filter((entry) => entry.set.revision !== set.revision), { set, decisionCacheSize }].slice(-2);
  }

  /**
   * Judges a validating request in a worker (worker.ts): `review` is the AdmissionReview's text. The
   * requests of one object (`affinity`: its kind, namespace and name) go to the same worker while it is
   * not much busier than the least busy one, so that its decision cache sees an object re-applied.
   * Resolves UNKNOWN_REVISION if no worker holds that revision any more. `given`: the quota facts of a
   * tenant with a budget, derived by the caller, who reserves what the decision admits.
   */
  async judge(
    revision: string,
    review: string,
    facts: PortableFacts,
    affinity: string,
    given?: GivenQuota,
  ): Promise<{ decision: Decision; cache?: 'hit' | 'miss' } | { failure: string } | typeof UNKNOWN_REVISION> {
    const entry = await this.readyWorker(affinity);
    if (!entry) return { failure: 'the evaluation pool is closed' };
    const answer = await this.send(entry, (id) => ({ type: 'judge', id, revision, review, facts, ...(given ? { given } : {}) }));
    if (answer.type === 'judged') return { decision: JSON.parse(answer.decision) as Decision, ...(answer.cache ? { cache: answer.cache } : {}) };
    if (answer.type === 'unknown-revision') return UNKNOWN_REVISION;
    return { failure: undelivered(answer) ?? 'the evaluation worker answered out of turn' };
  }

  /** How many evaluations the workers' decision caches held at their last answers. */
  get cacheEntries(): number {
    return this.workers.reduce((sum, entry) => sum + entry.cacheEntries, 0);
  }

  /** A worker that holds the active set (see leastBusy), once there is one; none once the pool is closed. */
  private async readyWorker(affinity?: string): Promise<PoolWorker | undefined> {
    if (this.closed) return undefined;
    let entry = this.leastBusy(affinity);
    while (!entry) {
      await new Promise<void>((resolve) => this.waitingForReady.push(resolve));
      if (this.closed) return undefined;
      entry = this.leastBusy(affinity);
    }
    return entry;
  }

  /**
   * Evaluates a plan (ScopedPolicySet.plan) on the least busy ready worker, its request as JSON text.
   * Resolves UNKNOWN_REVISION if no worker holds that revision any more.
   */
  async evaluate(revision: string, planned: { shape: RequestScope; mask: string; request: string; check?: string }, kind: PolicyKind): Promise<Evaluation | typeof UNKNOWN_REVISION> {
    const entry = await this.readyWorker();
    if (!entry) return { ok: false, message: 'the evaluation pool is closed' };
    const answer = await this.send(entry, (id) => ({ type: 'evaluate', id, revision, ...planned, kind }));
    if (answer.type === 'evaluated') return JSON.parse(answer.evaluation) as Evaluation;
    if (answer.type === 'unknown-revision') return UNKNOWN_REVISION;
    return { ok: false, message: undelivered(answer) ?? 'the evaluation worker answered out of turn' };
  }

  /**
   * The ready worker with the fewest requests pending; with an `affinity`, the worker it hashes to
   * instead, unless that one has more than AFFINITY_SLACK requests pending beyond the least busy.
   */
  private leastBusy(affinity?: string): PoolWorker | undefined {
    let best: PoolWorker | undefined;
    for (const entry of this.workers) {
      if (entry.ready && (!best || entry.pending.size < best.pending.size)) best = entry;
    }
    if (affinity === undefined || !best) return best;
    const preferred = this.workers[hashOf(affinity) % this.workers.length];
    return preferred?.ready && preferred.pending.size <= best.pending.size + AFFINITY_SLACK ? preferred : best;
  }

  status(): PoolStatus {
    return {
      workers: this.workers.length,
      ready: this.workers.filter((entry) => entry.ready).length,
      inFlight: this.workers.reduce((sum, entry) => sum + entry.pending.size, 0),
      replaced: this.replaced,
    };
  }

  /** The workers' thread ids, for tests that stop one. */
  get threadIds(): number[] {
    return this.workers.map((entry) => entry.worker.threadId);
  }

  /** Stops a worker as a crash would (tests). */
  async terminateWorker(threadId: number): Promise<void> {
    await this.workers.find((entry) => entry.worker.threadId === threadId)?.worker.terminate();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((entry) => entry.worker.terminate()));
    for (const wake of this.waitingForReady.splice(0)) wake();
  }
}
