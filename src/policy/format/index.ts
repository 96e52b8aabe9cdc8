// format/: re-exports format-policies.ts, where the implementation lives.
export * from './format-policies.js';
