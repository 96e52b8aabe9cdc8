// A small Kubernetes API client over @kubernetes/client-node's KubeConfig: GET with a deadline, paginated
// LIST, and WATCH. Raw JSON paths rather than typed clients, because Canopy reads a handful of kinds
// (some of them custom: ClusterProperty, ClusterProfile, kcp's LogicalCluster) and keeps only a few
// fields of each.
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig, Watch } from '@kubernetes/client-node';
import { clientNode } from './client-node.js';
import { CanopyError, messageOf } from '../../operations/errors/index.js';

export interface KubeConnection {
  kubeconfig?: string;
  context?: string;
}

export class KubeApiError extends CanopyError {
  constructor(
    message: string,
    readonly statusCode?: number,
  ) {
    super('kube-api', message);
  }
}

/** A kubeconfig file, the in-cluster service account, or the default kubeconfig, in that order. */
export function loadKubeConfig(connection: KubeConnection): KubeConfig {
  const config = new (clientNode().KubeConfig)();
  try {
    if (connection.kubeconfig) config.loadFromFile(connection.kubeconfig);
    else if (process.env['KUBERNETES_SERVICE_HOST']) config.loadFromCluster();
    else config.loadFromDefault();
    if (connection.context) config.setCurrentContext(connection.context);
  } catch (error) {
    throw new KubeApiError(`cannot load the kubeconfig: ${messageOf(error)}`);
  }
  if (!config.getCurrentCluster()) throw new KubeApiError('the kubeconfig has no current cluster');
  return config;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: Record<string, unknown> };

export class KubeClient {
  readonly server: string;
  private readonly watcher: Watch;

  constructor(readonly config: KubeConfig) {
    this.server = config.getCurrentCluster()?.server ?? '';
    this.watcher = new (clientNode().Watch)(config);
  }

  /** Creates or updates an object with server-side apply (field manager "canopy"). */
  async apply<T>(path: string, object: unknown, timeoutMs = 10_000): Promise<T> {
    return this.request<T>('PATCH', `${path}?fieldManager=canopy&force=true`, timeoutMs, Buffer.from(JSON.stringify(object)), 'application/apply-patch+yaml');
  }

  /** GET a path; rejects with KubeApiError (with the HTTP status) or on the deadline. */
  async getJson<T>(path: string, timeoutMs = 10_000): Promise<T> {
    return this.request<T>('GET', path, timeoutMs);
  }

  private async request<T>(method: string, path: string, timeoutMs: number, body?: Buffer, contentType?: string): Promise<T> {
    const options: RequestOptions & Record<string, unknown> = {
      method,
      headers: { Accept: 'application/json', ...(contentType ? { 'Content-Type': contentType } : {}) },
    };
    await this.config.applyToHTTPSOptions(options);
    const url = new URL(this.server + path);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, { ...options, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 300) {
            let message = text.slice(0, 200);
            try {
              message = (JSON.parse(text) as { message?: string }).message ?? message;
            } catch {
              // not a Status object: keep the text
            }
            reject(new KubeApiError(`${method} ${path}: ${res.statusCode}: ${message}`, res.statusCode));
            return;
          }
          try {
            resolve(JSON.parse(text) as T);
          } catch (error) {
            reject(new KubeApiError(`${method} ${path}: not JSON: ${messageOf(error)}`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new KubeApiError(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', (error) => reject(error instanceof KubeApiError ? error : new KubeApiError(`${method} ${path}: ${error.message}`)));
      if (body) req.write(body);
      req.end();
    });
  }

  /**
   * LIST page by page (limit / continue), for callers that stream rather than hold everything. The path
   * may carry a query of its own (`?fieldSelector=metadata.name%3Dde-1`); the pages' parameters join it.
   */
  async *pages<T>(path: string, pageSize = 500, timeoutMs = 30_000): AsyncGenerator<T[], string> {
    let next = '';
    let resourceVersion = '';
    const [base = path, given = ''] = path.split('?', 2);
    do {
      const query = new URLSearchParams(given);
      query.set('limit', String(pageSize));
      if (next) query.set('continue', next);
      const page = await this.getJson<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>(`${base}?${query}`, timeoutMs);
      yield page.items ?? [];
      resourceVersion = page.metadata?.resourceVersion ?? '';
      next = page.metadata?.continue ?? '';
    } while (next);
    return resourceVersion;
  }

  /** LIST with pagination (limit / continue), so a large cluster is read in pages. */
  async list<T>(path: string, pageSize = 500, timeoutMs = 30_000): Promise<ListResult<T>> {
    const items: T[] = [];
    const pages = this.pages<T>(path, pageSize, timeoutMs);
    for (;;) {
      const page = await pages.next();
      if (page.done) return { items, resourceVersion: page.value };
      items.push(...page.value);
    }
  }

  /** WATCH from a resource version; `done` is called once, with the error that ended it or null. A query in the path is kept. */
  async watch(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    done: (error: (Error & { statusCode?: number }) | null) => void,
  ): Promise<{ abort: () => void }> {
    const controller = await this.watcher.watch(
      path,
      { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 },
      (type: string, object: Record<string, unknown>) => onEvent({ type: type as WatchEvent['type'], object }),
      (error: unknown) => done((error as (Error & { statusCode?: number }) | null) ?? null),
    );
    return { abort: () => controller.abort() };
  }
}
