/**
 * The shipper's share of the cores under load. The scheduler shares the CPUs between cgroups by weight: deployed,
 * the shipper is one container among the node's others, each of the same default weight, so while 50 containers
 * log flat out and exit it waits for a CPU most of the time and falls behind Docker's gelf driver, whose copier
 * blocks the containers until their lines are sent (docs/benchmarks.md, twenty-sixth run). A weight `factor` times
 * a container's default gives it the share it needs during such a burst; the weight only matters while the cores
 * are contended, and the shipper's work is bounded by the lines the containers write.
 *
 * In a container: through the engine (`docker update --cpu-shares`), so `docker inspect` shows what was set.
 * Outside one (`npm start` on a host): its own cgroup's weight file, only when no other process is in that cgroup
 * (a systemd service's, yes; a login session's, no: the weight would be theirs too).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DockerAccess } from '../core/docker/access.js';
import { kindOf } from '../core/docker/classify.js';
import { SwarmwatchError } from '../core/errors.js';
import { detectLayout, type CgroupLayout } from '../core/cgroup/layout.js';
import { parseProcCgroup } from '../core/cgroup/proc-cgroup.js';
import type { SwarmState } from '../core/state/model.js';
import type { EngineStatus } from '../core/state/types.js';

/** The warning when the engine refused to set the weight of the shipper's own container. */
export const SW_ERR_SHIPPER_CPU_WEIGHT = 'SW_ERR_SHIPPER_CPU_WEIGHT';

/** A container's default weight: cpu.shares on cgroup v1, cpu.weight on v2. */
const DEFAULT_SHARES_V1 = 1024;
const DEFAULT_WEIGHT_V2 = 100;

export type OwnCpuWeightOutcome =
  | { set: 'container'; id: string; cpuShares: number }
  | { set: 'cgroup'; file: string; value: number }
  | { set: 'none'; why: string; retry?: boolean };

export interface OwnCpuWeightDeps {
  docker: Pick<DockerAccess, 'updateContainerCpuShares'>;
  /** The container this process runs in (ownContainerId), if any. */
  selfId: string | undefined;
  layout?: () => CgroupLayout;
  /** The text of /proc/self/cgroup. */
  readOwnCgroup?: () => string;
  pid?: number;
}

/**
 * The CpuShares value for `docker update` that gives a container `factor` times the default weight. On v2 the
 * engine (runc) turns shares into a weight as 1 + (shares − 2) · 9999 / 262142, under which a container created
 * without --cpu-shares has 100 and --cpu-shares 1024 gives only 39: the value is chosen for the weight it becomes.
 */
export function cpuSharesFor(factor: number, cgroupV2: boolean): number {
  if (!cgroupV2) return DEFAULT_SHARES_V1 * factor;
  return Math.ceil(((DEFAULT_WEIGHT_V2 * factor - 1) * 262142) / 9999) + 2;
}

/** The file of a cgroup's CPU weight and the value that is `factor` times a container's default. */
export function cgroupWeightFor(factor: number, cgroupV2: boolean): { file: 'cpu.shares' | 'cpu.weight'; value: number } {
  return cgroupV2 ? { file: 'cpu.weight', value: Math.min(DEFAULT_WEIGHT_V2 * factor, 10000) } : { file: 'cpu.shares', value: DEFAULT_SHARES_V1 * factor };
}

/** What the engine makes of a CpuShares value on cgroup v2 (runc's ConvertCPUSharesToCgroupV2Value). */
export function cgroupV2WeightOf(cpuShares: number): number {
  return 1 + Math.floor(((cpuShares - 2) * 9999) / 262142);
}

/**
 * Gives this process's container, or its own cgroup, `factor` times a container's default CPU weight; factor 0
 * or 1 leaves it. Never throws: what could not be done is an outcome the caller logs (the shipper runs on).
 */
export async function raiseOwnCpuWeight(factor: number, deps: OwnCpuWeightDeps): Promise<OwnCpuWeightOutcome> {
  if (factor <= 1) return { set: 'none', why: 'shipper.cpu-weight is 1 or 0 (left as it is)' };
  let layout: CgroupLayout;
  try {
    layout = (deps.layout ?? (() => detectLayout('/')))();
  } catch (err) {
    return { set: 'none', why: (err as Error).message };
  }
  const v2 = layout.mode === 'v2';
  if (deps.selfId) {
    const cpuShares = cpuSharesFor(factor, v2);
    try {
      await deps.docker.updateContainerCpuShares(deps.selfId, cpuShares);
      return { set: 'container', id: deps.selfId, cpuShares };
    } catch (err) {
      // An engine that is not there yet (restarting, its socket not mounted in time) may answer later; a refusal will not.
      const retry = err instanceof SwarmwatchError && (kindOf(err) === 'unreachable' || kindOf(err) === 'timeout');
      return retry ? { set: 'none', why: (err as Error).message, retry } : { set: 'none', why: (err as Error).message };
    }
  }
  return raiseOwnCgroupWeight(factor, layout, deps);
}

function raiseOwnCgroupWeight(factor: number, layout: CgroupLayout, deps: OwnCpuWeightDeps): OwnCpuWeightOutcome {
  let text: string;
  try {
    text = (deps.readOwnCgroup ?? (() => fs.readFileSync('/proc/self/cgroup', 'utf8')))();
  } catch (err) {
    return { set: 'none', why: `cannot read /proc/self/cgroup: ${(err as Error).message}` };
  }
  const v2 = layout.mode === 'v2';
  const cgroups = parseProcCgroup(text);
  const own = v2 ? cgroups.unified : cgroups.v1.get('cpu');
  const base = v2 ? layout.unified : layout.v1.cpu;
  if (own === undefined || base === undefined) return { set: 'none', why: `no CPU controller for this process in /proc/self/cgroup (cgroup ${layout.mode})` };
  if (own === '/') return { set: 'none', why: 'this process is in the root cgroup, which has no weight of its own' };
  const dir = path.join(base, own);
  const pid = deps.pid ?? process.pid;
  let others: string[];
  try {
    others = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter((p) => p !== '' && Number(p) !== pid);
  } catch (err) {
    return { set: 'none', why: `cannot list the processes of ${dir}: ${(err as Error).message}` };
  }
  if (others.length > 0) return { set: 'none', why: `${dir} holds ${others.length} other process(es) (pid ${others.slice(0, 3).join(', ')}): its weight would be theirs too; run swarmwatch in a cgroup of its own (a systemd service, a container)` };
  const weight = cgroupWeightFor(factor, v2);
  const file = path.join(dir, weight.file);
  const value = weight.value;
  try {
    fs.writeFileSync(file, String(value));
  } catch (err) {
    return { set: 'none', why: `cannot write ${file}: ${(err as Error).message}` };
  }
  return { set: 'cgroup', file, value };
}

/**
 * raiseOwnCpuWeight, and again each time the shared state model finds the engine answering (`engine` up, or a
 * `containers` update) while the last try could not reach it: the model already retries the engine with backoff,
 * so no timer of its own. Any other outcome is final. `report` sees every outcome with its attempt number.
 * Returns a function that ends the tries (at stop).
 */
export function keepRaisingOwnCpuWeight(
  factor: number, deps: OwnCpuWeightDeps, report: (outcome: OwnCpuWeightOutcome, attempt: number) => void,
  engineAnswers: Pick<SwarmState, 'on' | 'off'>,
): () => void {
  let attempts = 0;
  let trying = false;
  /** The model found the engine answering while a try was under way (one that may have failed before it did). */
  let answeredMeanwhile = false;
  let done = false;
  const end = () => {
    done = true;
    engineAnswers.off('engine', onEngine);
    engineAnswers.off('containers', tryAgain);
  };
  async function attempt(): Promise<void> {
    trying = true;
    answeredMeanwhile = false;
    const outcome = await raiseOwnCpuWeight(factor, deps);
    trying = false;
    if (done) return;
    report(outcome, ++attempts);
    if (outcome.set !== 'none' || !outcome.retry) end();
    // Otherwise the engine's next sign wakes us; one that came during this try comes no more.
    else if (answeredMeanwhile) void attempt();
  }
  function tryAgain(): void {
    if (done) return;
    if (trying) answeredMeanwhile = true;
    else void attempt();
  }
  function onEngine(status: EngineStatus): void {
    if (status.up) tryAgain();
  }
  engineAnswers.on('engine', onEngine);
  engineAnswers.on('containers', tryAgain);
  void attempt();
  return end;
}
