/**
 * Which cgroup hierarchy the host uses and where each controller lives, seen under a host root (like
 * cAdvisor's --rootfs: the exporter container mounts the host's / read-only and reads <hostRoot>/sys/fs/cgroup).
 *
 * - v2 (unified): <root>/cgroup.controllers exists.
 * - v1: one directory per controller mount; a mount may carry several controllers (`cpu,cpuacct`, usually with
 *   `cpu` and `cpuacct` symlinks) or each its own (`cpu` and `cpuacct` as separate mounts, as on this test bed).
 * - hybrid: v1 controllers plus an empty v2 hierarchy at <root>/unified; the controllers are read on v1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCodes, SwarmwatchError } from '../errors.js';

export type CgroupMode = 'v1' | 'v2' | 'hybrid';

/** The v1 controllers the container collector reads. */
export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'blkio', 'pids'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

export interface CgroupLayout {
  mode: CgroupMode;
  hostRoot: string;
  /** <hostRoot>/sys/fs/cgroup */
  root: string;
  /** Absolute mount directory of each v1 controller found (v1 and hybrid). */
  v1: Partial<Record<V1Controller, string>>;
  /** Absolute directory of the unified hierarchy (v2: = root; hybrid: <root>/unified). */
  unified?: string;
  /** True when stats are read from the unified hierarchy (mode v2). */
  readV2: boolean;
}

export function detectLayout(hostRoot = '/'): CgroupLayout {
  const root = path.join(hostRoot, 'sys/fs/cgroup');
  if (fs.existsSync(path.join(root, 'cgroup.controllers'))) {
    return { mode: 'v2', hostRoot, root, v1: {}, unified: root, readV2: true };
  }
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch (err) {
    throw new SwarmwatchError(ErrorCodes.CGROUP_READ, `cannot list the cgroup hierarchy at ${root}: ${(err as Error).message}`, {
      culprit: root, cause: err, fix: 'mount the host\'s /sys/fs/cgroup (read-only) and set exporter.host-root to where the host\'s / is mounted',
    });
  }
  const v1: Partial<Record<V1Controller, string>> = {};
  // Real directories first, so that `cpu,cpuacct` wins over its `cpu` symlink (same place either way).
  entries.sort((a, b) => Number(b.includes(',')) - Number(a.includes(',')));
  for (const name of entries) {
    for (const ctrl of name.split(',')) {
      if ((V1_CONTROLLERS as readonly string[]).includes(ctrl) && v1[ctrl as V1Controller] === undefined) {
        const dir = path.join(root, name);
        try {
          if (fs.statSync(dir).isDirectory()) v1[ctrl as V1Controller] = dir;
        } catch { /* dangling symlink */ }
      }
    }
  }
  const unifiedDir = path.join(root, 'unified');
  const unified = fs.existsSync(path.join(unifiedDir, 'cgroup.controllers')) ? unifiedDir : undefined;
  const hasV1 = v1.cpuacct !== undefined || v1.memory !== undefined || v1.cpu !== undefined;
  if (!hasV1) {
    if (unified) return { mode: 'hybrid', hostRoot, root, v1, unified, readV2: true };
    throw new SwarmwatchError(ErrorCodes.CGROUP_READ, `no cgroup v1 controller (cpu, cpuacct, memory) and no cgroup v2 hierarchy found under ${root}`, {
      culprit: root, fix: 'mount the host\'s /sys/fs/cgroup and set exporter.host-root accordingly',
    });
  }
  return { mode: unified ? 'hybrid' : 'v1', hostRoot, root, v1, unified, readV2: false };
}
