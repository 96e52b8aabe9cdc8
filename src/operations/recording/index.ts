// recording/: re-exports recorder.ts, where the implementation lives.
export * from './recorder.js';
