// Graceful shutdown of the webhook listener. On SIGTERM, Kubernetes removes the pod from the
// Service's endpoints at the same time as it signals the pod, and the API server may still hold
// keep-alive connections to it. So: readiness turns false at once; for `delayMs` every request is
// still answered, each with `Connection: close` so that clients reconnect to another replica; then
// the listener closes, requests in flight finish, and after `drainMs` whatever is left is cut.
import type { WebhookApp } from './app.js';

export type DrainOutcome = { result: 'drained'; ms: number } | { result: 'forced'; ms: number; connections: number };

export class Drain {
  private started: number | undefined;

  /** True from the moment draining starts: /readyz answers 503 and responses close their connection. */
  get draining(): boolean {
    return this.started !== undefined;
  }

  /** Installs the Connection: close header on every response sent while draining. */
  install(app: WebhookApp): void {
    app.addHook('onSend', async (_request, reply, payload) => {
      if (this.draining) void reply.header('connection', 'close');
      return payload;
    });
  }

  async run(app: WebhookApp, delayMs: number, drainMs: number): Promise<DrainOutcome> {
    this.started = Date.now();
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'forced'>((resolve) => (timer = setTimeout(() => resolve('forced'), drainMs)));
    const closed = app.close().then(() => 'drained' as const);
    const result = await Promise.race([closed, deadline]);
    clearTimeout(timer);
    const ms = Date.now() - (this.started ?? Date.now());
    if (result === 'drained') return { result, ms };
    const open = await new Promise<number>((resolve) => app.server.getConnections((error, count) => resolve(error ? -1 : count)));
    app.server.closeAllConnections();
    return { result, ms, connections: open };
  }
}
