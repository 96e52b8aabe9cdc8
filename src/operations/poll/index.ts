// Polling on an interval, one run at a time, with jittered backoff after failures.
export { Backoff, jittered, Poller, type BackoffOptions, type PollerOptions, type PollOutcome } from './poller.js';
