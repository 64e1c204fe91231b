/**
 * Finds a container's cgroup directories. Preferred source: <hostRoot>/proc/<pid>/cgroup of its init process,
 * which is right for any cgroup driver and any daemon-wide or per-container --cgroup-parent. Without a pid (or
 * when that file shows paths outside our view, e.g. `/..` under a private cgroup namespace) the Docker
 * conventions are tried: cgroupfs `<parent or /docker>/<id>`, systemd `<parent slice or system.slice>/docker-<id>.scope`.
 * Resolution runs once per container start; the caller caches the result.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupLayout, V1Controller } from '../../core/cgroup/layout.js';
import { V1_CONTROLLERS } from '../../core/cgroup/layout.js';
import { parseProcCgroup } from '../../core/cgroup/proc-cgroup.js';

export interface CgroupPaths {
  /** The container's cgroup path relative to the hierarchy root (the `id` label), e.g. `/docker/<id>`. */
  id: string;
  /** v1: absolute directory of each controller found. */
  v1: Partial<Record<V1Controller, string>>;
  /** v2: absolute directory in the unified hierarchy. */
  unified?: string;
  source: 'proc' | 'convention';
}

/**
 * A flat copy of `s`. Paths parsed out of /proc/<pid>/cgroup are slices of the whole file's text, and V8 keeps that
 * text alive as long as a slice lives: the id label held ≈ 500 bytes per container for a 70-byte value.
 */
export function detach(s: string): string {
  // Not Buffer.from: a slice of Node's shared pool would keep an 8 KiB slab resident as long as anything else in it.
  const b = Buffer.allocUnsafeSlow(Buffer.byteLength(s, 'utf8'));
  b.write(s, 0, 'utf8');
  return b.toString('utf8');
}

function usable(p: string | undefined): p is string {
  return p !== undefined && p.startsWith('/') && !p.includes('/..');
}

function isDir(p: string): boolean {
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}

/** `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice` (systemd's slice nesting); `-.slice` → ''. */
export function expandSlice(slice: string): string {
  if (slice === '-.slice' || slice === '') return '';
  const name = slice.endsWith('.slice') ? slice.slice(0, -6) : slice;
  const parts = name.split('-');
  let out = '';
  let prefix = '';
  for (const part of parts) {
    prefix = prefix ? `${prefix}-${part}` : part;
    out += `/${prefix}.slice`;
  }
  return out;
}

/** Candidate relative cgroup paths by Docker's conventions, most likely first. */
export function conventionalPaths(id: string, cgroupParent: string, driver?: string): string[] {
  const parent = cgroupParent.trim();
  const cgroupfs = `${parent ? (parent.startsWith('/') ? parent : `/${parent}`).replace(/\/+$/, '') : '/docker'}/${id}`;
  const slice = parent && parent.endsWith('.slice') ? parent : 'system.slice';
  const systemd = `${expandSlice(slice)}/docker-${id}.scope`;
  const systemdFirst = driver === 'systemd' || (driver === undefined && parent.endsWith('.slice'));
  return systemdFirst ? [systemd, cgroupfs] : [cgroupfs, systemd];
}

function fromRelative(layout: CgroupLayout, rel: Partial<Record<V1Controller, string>> | string, source: CgroupPaths['source']): CgroupPaths | undefined {
  if (layout.readV2) {
    const p = typeof rel === 'string' ? rel : undefined;
    if (!p || !layout.unified) return undefined;
    const dir = path.join(layout.unified, p);
    return isDir(dir) ? { id: detach(p), v1: {}, unified: dir, source } : undefined;
  }
  const out: Partial<Record<V1Controller, string>> = {};
  let id: string | undefined;
  for (const c of V1_CONTROLLERS) {
    const mount = layout.v1[c];
    const p = typeof rel === 'string' ? rel : rel[c];
    if (!mount || !usable(p)) continue;
    const dir = path.join(mount, p);
    if (isDir(dir)) out[c] = dir;
  }
  // The id label follows cAdvisor: the container's cgroup name, taken from the memory (else cpu) hierarchy.
  const memRel = typeof rel === 'string' ? rel : rel.memory ?? rel.cpuacct ?? rel.cpu;
  if ((out.memory || out.cpuacct || out.cpu) && memRel !== undefined) id = detach(memRel);
  return id ? { id, v1: out, source } : undefined;
}

export interface ResolveInput {
  id: string;
  pid: number;
  cgroupParent: string;
}

/**
 * Resolves the directories of one container, or undefined when none exists (container gone or not yet
 * started). `driver` is the engine's CgroupDriver (`cgroupfs` | `systemd`) when known.
 */
export function resolveCgroupPaths(layout: CgroupLayout, c: ResolveInput, driver?: string): CgroupPaths | undefined {
  if (c.pid > 0) {
    let text: string | undefined;
    try { text = fs.readFileSync(path.join(layout.hostRoot, 'proc', String(c.pid), 'cgroup'), 'latin1'); } catch { /* fall back */ }
    if (text) {
      const pc = parseProcCgroup(text);
      if (layout.readV2) {
        if (usable(pc.unified)) {
          const r = fromRelative(layout, pc.unified, 'proc');
          if (r) return r;
        }
      } else {
        const rel: Partial<Record<V1Controller, string>> = {};
        for (const ctrl of V1_CONTROLLERS) {
          const p = pc.v1.get(ctrl);
          if (usable(p)) rel[ctrl] = p;
        }
        // A process in the root cgroup of every controller is not in a container cgroup we can see.
        if ((rel.memory && rel.memory !== '/') || (rel.cpuacct && rel.cpuacct !== '/')) {
          const r = fromRelative(layout, rel, 'proc');
          if (r) return r;
        }
      }
    }
  }
  for (const rel of conventionalPaths(c.id, c.cgroupParent, driver)) {
    const r = fromRelative(layout, rel, 'convention');
    if (r) return r;
  }
  return undefined;
}
