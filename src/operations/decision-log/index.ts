// decision-log/: re-exports log.ts, where the implementation lives.
export * from './log.js';
