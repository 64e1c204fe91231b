/**
 * swarmwatch test bed: private Docker engines and a real multi-node swarm on
 * this machine, for integration tests and benchmarks. See test/bed/README.md.
 */
export * from './api.js';
export * from './engine.js';
export * from './image.js';
export * from './stale.js';
export * from './swarm.js';
export { BED_ROOT, BedError, CLOCK_TICKS_PER_SECOND, isAlive, readProcStat, sleep, waitFor, type ProcStat, type RunResult, type Truthy, type WaitOptions } from './util.js';
