// metrics/: re-exports metrics.ts, where the implementation lives.
export * from './metrics.js';
