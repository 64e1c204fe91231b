/**
 * Where the benchmark's processes sit in the CPU hierarchy. On a Debian 12 node systemd runs dockerd in
 * docker.service, containerd (and every containerd-shim it starts) in containerd.service, and each container,
 * swarmwatch's shipper among them, in a scope of its own: siblings that the scheduler shares the CPUs between by
 * group, not by thread. A private engine started from the bench has no systemd around it: dockerd, its containerd,
 * 50 shims and the shipper would all compete thread by thread at the root. `placeEngineLikeSystemd` and
 * `placeInUnit` recreate the node's layout below the engine's cgroup parent, where dockerd already puts the
 * containers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { detectLayout } from '../core/cgroup/layout.js';
import { cgroupWeightFor } from '../log-shipper/own-cpu-weight.js';
import { CLOCK_TICKS_PER_SECOND, type PrivateEngine } from '../test/bed/index.js';

/** SWARMWATCH_BENCH_CGROUPS: "units" (default) places dockerd, containerd and the shipper as systemd would; "flat" leaves every process where it was started. */
export const CGROUP_LAYOUT: 'units' | 'flat' = process.env.SWARMWATCH_BENCH_CGROUPS === 'flat' ? 'flat' : 'units';

/**
 * The directory of the CPU controller's hierarchy (the exporter's layout detection): v1's cpu mount, or the v2
 * root; on v1, `acct` is the cpuacct mount when it is a hierarchy of its own (usage is read there).
 */
function cpuHierarchy(): { root: string; v2: boolean; acct?: string } {
  const layout = detectLayout();
  if (layout.v1.cpu) return { root: layout.v1.cpu, v2: false, acct: layout.v1.cpuacct !== layout.v1.cpu ? layout.v1.cpuacct : undefined };
  if (layout.mode === 'v2') return { root: layout.root, v2: true };
  throw new Error(`no CPU controller under ${layout.root} (cgroup ${layout.mode}): run the bench with SWARMWATCH_BENCH_CGROUPS=flat`);
}

/**
 * Moves a process, all its threads, into the cgroup `<parent>/<unit>` of the CPU hierarchy (created if missing);
 * processes it starts later are born there, as containerd's shims are.
 */
export function placeInUnit(parent: string, unit: string, pid: number): void {
  const { root, v2, acct } = cpuHierarchy();
  if (acct) moveInto(path.join(acct, parent, unit), pid); // so that cpuUsageByUnit sees the unit's CPU
  const dir = path.join(root, parent, unit);
  fs.mkdirSync(dir, { recursive: true });
  if (v2) {
    // cgroup v2 hands the cpu controller down one level at a time, from the root to the unit's parent.
    const ancestors = path.relative(root, path.dirname(dir)).split(path.sep).filter(Boolean);
    let at = root;
    for (const part of ['', ...ancestors]) {
      at = path.join(at, part);
      try { fs.writeFileSync(path.join(at, 'cgroup.subtree_control'), '+cpu'); } catch { /* enabled already, or not ours to change */ }
    }
  }
  // At the default weight, as a new unit or container starts: a shipper raises its own (shipper.cpu-weight), and
  // the next one placed here must not inherit that.
  const weight = cgroupWeightFor(1, v2);
  fs.writeFileSync(path.join(dir, weight.file), String(weight.value));
  moveInto(dir, pid);
}

function moveInto(dir: string, pid: number): void {
  fs.mkdirSync(dir, { recursive: true });
  try {
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
  } catch (err) {
    throw new Error(`cannot move process ${pid} into ${dir}: ${(err as Error).message}; run the bench with SWARMWATCH_BENCH_CGROUPS=flat to leave processes where they start`);
  }
}

/**
 * CPU seconds used so far by each unit directly below `parent`, by the containers (`containers`: the rest of
 * `parent`, those already removed included), and by the whole machine outside `parent` (`outside`: the receiver,
 * kernel threads, this bench). Empty with the flat layout (nothing was placed).
 */
export function cpuUsageByUnit(parent: string): Map<string, number> {
  const out = new Map<string, number>();
  if (CGROUP_LAYOUT !== 'units') return out;
  const { root, v2, acct } = cpuHierarchy();
  const base = path.join(acct ?? root, parent);
  const usage = (dir: string): number => {
    try {
      if (!v2) return Number(fs.readFileSync(path.join(dir, 'cpuacct.usage'), 'utf8')) / 1e9;
      const m = /^usage_usec (\d+)/m.exec(fs.readFileSync(path.join(dir, 'cpu.stat'), 'utf8'));
      return m ? Number(m[1]) / 1e6 : 0;
    } catch { return 0; }
  };
  let entries: fs.Dirent[] = [];
  try { entries = fs.readdirSync(base, { withFileTypes: true }); } catch { return out; }
  // Usage is hierarchical: the parent's includes the cgroups removed since (exited containers).
  const inParent = usage(base);
  let units = 0;
  for (const e of entries) {
    if (!e.isDirectory() || /^[0-9a-f]{64}$/.test(e.name)) continue;
    const u = usage(path.join(base, e.name));
    units += u;
    out.set(e.name, u);
  }
  out.set('containers', inParent - units);
  out.set('outside', machineCpu().busy - inParent);
  return out;
}

/** Busy (all but idle and iowait) and total CPU seconds of the whole machine, all cores, from /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3]! + (f[4] ?? 0);
  return { busy: (total - idle) / CLOCK_TICKS_PER_SECOND, total: total / CLOCK_TICKS_PER_SECOND };
}

/** dockerd in docker.service, containerd in containerd.service (its shims are born there), as Debian's units run them. */
export function placeEngineLikeSystemd(engine: PrivateEngine): void {
  placeInUnit(engine.cgroupParent, 'docker.service', engine.pid);
  const containerd = engine.containerdPid;
  // A containerd the bed does not own (a host's, at /run/containerd) is not ours to move.
  if (containerd === undefined) { console.error('CPU cgroups: dockerd uses a containerd it did not start: containerd and its shims stay where they run'); return; }
  placeInUnit(engine.cgroupParent, 'containerd.service', containerd);
}
