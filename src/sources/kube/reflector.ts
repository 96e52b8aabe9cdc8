// A reflector: LIST then WATCH one kind, keeping only a projection of each object (a namespace's labels,
// not the namespace), so that memory stays proportional to what policies read. It resumes a dropped
// watch from the last resource version, relists on 410 Gone, and backs off on other errors.
import type { Logger } from '../../operations/decision-log/index.js';
import { KubeApiError, type KubeClient, type WatchEvent } from './client.js';
import { inBackground, messageOf } from '../../operations/errors/index.js';
import { Backoff } from '../../operations/poll/index.js';

export interface ReflectorOptions<T> {
  /**
   * A collection path: `/api/v1/namespaces`, or a namespace's; it may carry a query that the LIST and
   * the WATCH both keep (`?fieldSelector=metadata.name%3Dde-1`, for one object).
   */
  path: string;
  /** What to keep of each object. */
  project: (object: Record<string, unknown>) => T;
  /** What the logs call it. */
  name: string;
  /** Told of every change to the cache (before and after, by key), a relist included. */
  onChange?: (key: string, before: T | undefined, after: T | undefined) => void;
  /** Backoff after an error: the first delay, doubled up to the maximum. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Told of every failed LIST or WATCH, with the HTTP status if there was one, before the retry. */
  onError?: (error: Error, statusCode: number | undefined) => void;
  /**
   * When set, a 404 (a custom resource whose CRD is not installed) is an empty collection, not an
   * error: the cache empties and counts as synced, nothing is logged but the first time, and the LIST
   * is tried again this often, so that a CRD installed later is picked up.
   */
  notFoundRecheckMs?: number;
}

/** `namespace/name` for namespaced objects, `name` for cluster-scoped ones. */
export const keyOf = (object: Record<string, unknown>): string => {
  const metadata = object['metadata'] as { name?: unknown; namespace?: unknown } | undefined;
  const name = typeof metadata?.name === 'string' ? metadata.name : '';
  return typeof metadata?.namespace === 'string' && metadata.namespace ? `${metadata.namespace}/${name}` : name;
};
const versionOf = (object: Record<string, unknown>): string => {
  const metadata = object['metadata'] as { resourceVersion?: unknown } | undefined;
  return typeof metadata?.resourceVersion === 'string' ? metadata.resourceVersion : '';
};

/** What a reflector shows whatever it keeps: for readiness, status and lifecycle. */
export interface Informer {
  readonly name: string;
  readonly synced: boolean;
  readonly size: number;
  readonly lastError: string | undefined;
  start(): void;
  stop(): void;
  waitForSync(): Promise<void>;
}

export class Reflector<T> implements Informer {
  private readonly items = new Map<string, T>();
  private resourceVersion = '';
  private stopped = false;
  private current: { abort: () => void } | undefined;
  /** Retries after failed LISTs and WATCHes: jittered, doubling up to maxBackoffMs, reset once one succeeds. */
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private syncedOnce = false;
  /** 410s since the last event: a server that keeps answering 410 must not be relisted in a tight loop. */
  private goneInARow = 0;
  private readonly syncWaiters: (() => void)[] = [];
  /** Counts of what happened, for status and tests. */
  readonly stats = { lists: 0, watches: 0, relistsAfterGone: 0, errors: 0 };
  lastError: string | undefined;
  /** The API server answered 404 for the collection (see ReflectorOptions.notFoundRecheckMs). */
  notServed = false;

  constructor(
    private readonly client: KubeClient,
    private readonly options: ReflectorOptions<T>,
    private readonly logger: Logger,
  ) {
    this.backoff = new Backoff({ initialMs: options.initialBackoffMs ?? 500, maxMs: options.maxBackoffMs ?? 30_000 });
  }

  get synced(): boolean {
    return this.syncedOnce;
  }

  /** What logs and status call it. */
  get name(): string {
    return this.options.name;
  }

  values(): IterableIterator<T> {
    return this.items.values();
  }

  /** By `name`, or `namespace/name` for a namespaced kind. */
  get(key: string): T | undefined {
    return this.items.get(key);
  }

  get size(): number {
    return this.items.size;
  }

  /** Resolves once the first LIST has filled the cache. */
  waitForSync(): Promise<void> {
    return this.syncedOnce ? Promise.resolve() : new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): void {
    this.stopped = false;
    this.runInBackground(true);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.current?.abort();
  }

  /** Puts an object fetched outside the watch (a one-off GET) into the cache. */
  remember(key: string, value: T): void {
    this.set(key, value);
  }

  private set(key: string, value: T | undefined): void {
    const before = this.items.get(key);
    if (value === undefined) this.items.delete(key);
    else this.items.set(key, value);
    this.options.onChange?.(key, before, value);
  }

  /** run() without awaiting it: it reports its own failures (failed()); anything else is logged here. */
  private runInBackground(relist: boolean): void {
    inBackground(this.run(relist), (error) => this.logger.error({ informer: this.options.name, reason: messageOf(error) }, 'informer failed'));
  }

  private async run(relist: boolean): Promise<void> {
    if (this.stopped) return;
    try {
      if (relist || !this.resourceVersion) await this.relist();
      // stop() may have been called while the list was in flight: open no new watch then.
      if (this.stopped) return;
      this.stats.watches += 1;
      // A watch refused (410, 403, ...) ends before client.watch returns; one that opened has recovered.
      let endedAtOnce = false;
      const watch = await this.client.watch(this.options.path, this.resourceVersion, (event) => this.apply(event), (error) => {
        endedAtOnce = true;
        this.ended(error);
      });
      if (this.stopped) watch.abort();
      else if (!endedAtOnce) {
        this.current = watch;
        this.lastError = undefined;
        this.backoff.reset();
      }
    } catch (error) {
      this.failed(error as Error);
    }
  }

  private async relist(): Promise<void> {
    const list = await this.client.list<Record<string, unknown>>(this.options.path);
    this.stats.lists += 1;
    const listed = new Map(list.items.map((object) => [keyOf(object), this.options.project(object)] as const));
    for (const key of [...this.items.keys()]) if (!listed.has(key)) this.set(key, undefined);
    for (const [key, value] of listed) this.set(key, value);
    this.resourceVersion = list.resourceVersion;
    this.backoff.reset();
    this.lastError = undefined;
    this.notServed = false;
    this.markSynced();
  }

  private markSynced(): void {
    if (this.syncedOnce) return;
    this.syncedOnce = true;
    this.logger.info({ informer: this.options.name, objects: this.items.size }, 'cache synced');
    this.syncWaiters.splice(0).forEach((resolve) => resolve());
  }

  /** A 404 with notFoundRecheckMs: an empty collection, listed again later. */
  private notFound(recheckMs: number): void {
    this.resourceVersion = '';
    for (const key of [...this.items.keys()]) this.set(key, undefined);
    this.backoff.reset();
    this.lastError = undefined;
    if (!this.notServed) {
      this.notServed = true;
      this.logger.info({ informer: this.options.name, recheckInMs: recheckMs }, 'not served (404, its CRD is not installed?): counted as empty; listing again later');
    }
    this.markSynced();
    this.timer = setTimeout(() => this.runInBackground(true), recheckMs);
  }

  private apply(event: WatchEvent): void {
    if (event.type === 'ERROR') {
      // A Status inside the stream: 410 Gone means our resource version is too old.
      if ((event.object as { code?: unknown }).code === 410) this.resourceVersion = '';
      return;
    }
    this.goneInARow = 0;
    const key = keyOf(event.object);
    if (event.type === 'ADDED' || event.type === 'MODIFIED') this.set(key, this.options.project(event.object));
    else if (event.type === 'DELETED') this.set(key, undefined);
    const version = versionOf(event.object);
    if (version) this.resourceVersion = version;
  }

  private ended(error: (Error & { statusCode?: number }) | null): void {
    this.current = undefined;
    if (this.stopped) return;
    if (error?.statusCode === 410 || (!error && !this.resourceVersion)) {
      this.stats.relistsAfterGone += 1;
      this.goneInARow += 1;
      this.resourceVersion = '';
      if (this.goneInARow > 1) {
        this.failed(new Error('the watch keeps expiring right after a fresh list (410 Gone)'));
        return;
      }
      this.logger.info({ informer: this.options.name }, 'watch expired (410 Gone): listing again');
      this.runInBackground(true);
      return;
    }
    if (error && error.name !== 'AbortError') {
      this.failed(error);
      return;
    }
    // A clean close (the API server's timeout, a dropped connection): resume where we were.
    this.goneInARow = 0;
    this.runInBackground(false);
  }

  private failed(error: Error): void {
    if (this.stopped) return;
    const status = error instanceof KubeApiError ? error.statusCode : (error as { statusCode?: number }).statusCode;
    if (status === 404 && this.options.notFoundRecheckMs !== undefined) {
      this.notFound(this.options.notFoundRecheckMs);
      return;
    }
    this.stats.errors += 1;
    this.lastError = error.message;
    this.options.onError?.(error, status);
    if (status === 410) this.resourceVersion = '';
    const delay = this.backoff.next();
    this.logger.warn({ informer: this.options.name, err: error.message, retryInMs: delay }, 'list/watch failed; retrying');
    this.timer = setTimeout(() => this.runInBackground(!this.resourceVersion), delay);
  }
}
