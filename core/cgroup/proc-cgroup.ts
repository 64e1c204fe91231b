/**
 * The cgroups a process is in, from /proc/<pid>/cgroup: the exporter resolves a container's cgroup directories
 * from its init process's file, the shipper finds its own cgroup to set its CPU weight.
 */
export interface ProcCgroup {
  /** controller name → path (v1 lines). */
  v1: Map<string, string>;
  /** path of the `0::` line. */
  unified?: string;
}

/** Parses /proc/<pid>/cgroup: `hierarchy-ID:controller-list:cgroup-path` per line. */
export function parseProcCgroup(text: string): ProcCgroup {
  const v1 = new Map<string, string>();
  let unified: string | undefined;
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) continue;
    const ctrls = line.slice(a + 1, b);
    const p = line.slice(b + 1);
    if (line.slice(0, a) === '0' && ctrls === '') unified = p;
    else for (const c of ctrls.split(',')) if (c) v1.set(c, p);
  }
  return { v1, unified };
}
