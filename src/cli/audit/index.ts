// audit/: re-exports run-audit.ts, where the implementation lives.
export * from './run-audit.js';
