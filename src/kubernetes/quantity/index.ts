// quantity/: re-exports quantity.ts, where the implementation lives.
export * from './quantity.js';
