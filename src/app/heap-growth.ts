// How far V8 lets a heap grow before its next full collection (mark-compact), for every thread of the
// process: the flag is process-wide, and V8 reads it each time it sets a heap's next limit.
//
// Left to itself, V8 picks the growth that keeps its collections under 3% of the time (a mutator
// utilisation of 0.97). Under a webhook's load the old generation grows slowly next to how fast V8
// collects it, so V8 picks its minimum, 10% (`node --trace-gc-verbose`: "factor 1.1 ... speed_ratio=765"):
// at 2,300 requests/s the event loop ran a mark-compact every 3-5 s. Each one (2-10 ms, with an
// incremental step before it) opened a 70-80 ms episode in which 150-170 requests took over 10 ms.
// With 300% the event loop's heap grows to about four times what it holds (95-110 MB from 25-30) before
// a mark-compact, one every 35 s or so under the same load. V8 never sets a limit past halfway from the heap's
// size to its maximum, which Node sizes from the container's memory limit (cgroup) unless
// --max-old-space-size says otherwise: in a pod, the growth is bounded by the pod's memory.
import { setFlagsFromString } from 'node:v8';

/** Sets V8's heap growing factor to 1 + percent/100; 0 gives the choice back to V8. */
export function setHeapGrowth(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0) throw new RangeError(`heap growth must be a whole percent, 0 or more, got ${percent}`);
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
