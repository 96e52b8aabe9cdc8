// template/: re-exports templates.ts, where the implementation lives.
export * from './templates.js';
