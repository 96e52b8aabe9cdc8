// A running Canopy from a config: what `canopy serve`, the tests and the benchmarks start.
export { startCanopy, type CanopyDependencies, type RunningCanopy } from './canopy.js';
