// server/: re-exports webhook-server.ts, where the implementation lives.
export * from './webhook-server.js';
