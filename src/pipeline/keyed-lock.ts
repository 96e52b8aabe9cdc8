// Runs tasks one at a time per key, in arrival order; tasks under different keys run concurrently.
// The webhook uses it per tenant: reading usage, evaluating (in a worker) and reserving must not
// interleave with another request of the same tenant.
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    // The next task waits for this one however it ends; the last task of a key removes it, so keys
    // seen once do not accumulate.
    const tail: Promise<void> = result.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    this.tails.set(key, tail);
    return result;
  }

  /** Keys with a task running or waiting. */
  get busyKeys(): number {
    return this.tails.size;
  }
}
