// sovereignty/: re-exports provider.ts, where the implementation lives.
export * from './provider.js';
