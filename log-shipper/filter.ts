import * as fs from 'node:fs';
import type { ContainerRecord } from '../core/state/types.js';

export interface FilterSettings {
  includeLabels: readonly string[];
  excludeLabels: readonly string[];
  includeNames?: RegExp;
  excludeNames?: RegExp;
  shipSelf: boolean;
}

function hasLabel(c: ContainerRecord, spec: string): boolean {
  const eq = spec.indexOf('=');
  if (eq < 0) return Object.prototype.hasOwnProperty.call(c.labels, spec);
  return c.labels[spec.slice(0, eq)] === spec.slice(eq + 1);
}

/** Whether a container's output is shipped: label and name filters, and never our own output unless asked. */
export function shouldShip(c: ContainerRecord, f: FilterSettings, selfId: string | undefined): boolean {
  if (!f.shipSelf && selfId && c.id.startsWith(selfId)) return false;
  if (f.excludeLabels.some((l) => hasLabel(c, l))) return false;
  if (f.includeLabels.length > 0 && !f.includeLabels.some((l) => hasLabel(c, l))) return false;
  if (f.excludeNames?.test(c.name)) return false;
  if (f.includeNames && !f.includeNames.test(c.name)) return false;
  return true;
}

/**
 * The id of the container this process runs in, if any: from the cgroup path (v1, or v2 with the cgroupfs
 * driver) or from the /etc/hostname bind mount that the engine sets up for every container.
 */
export function ownContainerId(read: (file: string) => string = (f) => fs.readFileSync(f, 'utf8')): string | undefined {
  // Only the /etc/hostname mount counts: a host process sees other containers' mounts in its mountinfo too.
  const patterns: [string, RegExp][] = [
    ['/proc/self/cgroup', /docker[-/]([0-9a-f]{64})/],
    ['/proc/self/mountinfo', /\/containers\/([0-9a-f]{64})\/hostname \/etc\/hostname /],
  ];
  for (const [file, re] of patterns) {
    try {
      const m = re.exec(read(file));
      if (m) return m[1];
    } catch {
      // Not on Linux or not readable: not in a container as far as we can tell.
    }
  }
  return undefined;
}
