/**
 * Reads one container's cgroup (v1 or v2) and /proc files into a reusable numeric record, following the
 * "How values are computed" table of anchors §A.4 (cAdvisor / opencontainers/cgroups semantics).
 *
 * Per scrape (v1): cpuacct.usage, cpuacct.stat, cpu.stat, memory.usage_in_bytes, memory.max_usage_in_bytes,
 * memory.failcnt, memory.stat, memory.oom_control, the blkio group in use, pids.current, cgroup.procs and
 * /proc/<pid>/net/dev (+ cpuacct.usage_percpu with percpu on).
 * Per scrape (v2): cpu.stat, memory.current, memory.peak, memory.stat, memory.events, memory.swap.current,
 * io.stat, pids.current, cgroup.procs, /proc/<pid>/net/dev.
 * Once per container start (limits never change without an `update` event, see invalidate()): cpu.shares,
 * cpu.cfs_period_us, cpu.cfs_quota_us, memory.limit_in_bytes, memory.soft_limit_in_bytes,
 * memory.memsw.limit_in_bytes, memory.use_hierarchy, pids.max (v2: cpu.max, cpu.weight, memory.max,
 * memory.min, memory.swap.max, pids.max).
 */
import * as path from 'node:path';
import { ErrorCodes } from '../../core/errors.js';
import {
  FileReader, KeyTable, countLines, parseKeyValues, parseLimitAt, parseSingle, parseUintAt, parsedEnd,
} from './fastread.js';
import type { CgroupLayout } from '../../core/cgroup/layout.js';
import { detach, type CgroupPaths } from './resolve.js';

// ---- value slots ------------------------------------------------------------------------------------
export const S = {
  CPU_TOTAL_NS: 0,
  CPU_USER_S: 1,
  CPU_SYSTEM_S: 2,
  CFS_PERIODS: 3,
  CFS_THROTTLED_PERIODS: 4,
  CFS_THROTTLED_S: 5,
  MEM_USAGE: 6,
  MEM_WORKING_SET: 7,
  MEM_RSS: 8,
  MEM_CACHE: 9,
  MEM_MAPPED_FILE: 10,
  MEM_SWAP: 11,
  MEM_MAX_USAGE: 12,
  MEM_FAILCNT: 13,
  PGFAULT: 14,
  PGMAJFAULT: 15,
  ACTIVE_FILE: 16,
  INACTIVE_FILE: 17,
  OOM_KILL: 18,
  EVENTS_HIGH: 19,
  EVENTS_MAX: 20,
  PROCESSES: 21,
  THREADS: 22,
  COUNT: 23,
} as const;

export interface SpecValues {
  cpuPeriod: number;
  /** 0 when no quota is set. */
  cpuQuota: number;
  cpuShares: number;
  /** Bytes; values > 2^62 already mapped to 0 ("unlimited"). */
  memLimit: number;
  memReservation: number;
  swapLimit: number;
  /** pids.max; `max` → 0. */
  threadsMax: number;
  /** v1 memory.use_hierarchy (true on v2). */
  useHierarchy: boolean;
}

export interface BlkDevice {
  major: number;
  minor: number;
  /** Bytes by operation: Read, Write, Sync, Async, Discard, Total (v2: Read, Write only). */
  bytes: Float64Array;
  /** Operations by the same operations. */
  ios: Float64Array;
  /** Scrape generation in which the device was last seen. */
  gen: number;
}

export const BLK_OPS = ['Read', 'Write', 'Sync', 'Async', 'Discard', 'Total'] as const;

export interface NetInterface {
  name: string;
  /** rx bytes, rx packets, rx errors, rx dropped, tx bytes, tx packets, tx errors, tx dropped */
  v: Float64Array;
  gen: number;
}

/** Everything the collector keeps about one running container. */
export interface ContainerCgroup {
  /** The container's cgroup path relative to the hierarchy root (the `id` label). */
  id: string;
  pid: number;
  /** The container's files by name (`memory.stat`, `net/dev`, …). */
  f: CgroupFiles;
  spec?: SpecValues;
  v: Float64Array;
  percpu: number[];
  blk: BlkDevice[];
  net: NetInterface[];
  gen: number;
  /** Index of the v1 blkio file group in use (-1: none found yet). */
  blkGroup: number;
}

/** An error met while reading; the collector counts them by code. */
export interface ReadProblem {
  code: string;
  file: string;
  detail: string;
}

const V1_MEM_KEYS = new KeyTable([
  ['total_rss', 0], ['total_cache', 1], ['total_mapped_file', 2], ['total_swap', 3], ['total_inactive_file', 4],
  ['total_active_file', 5], ['rss', 6], ['cache', 7], ['mapped_file', 8], ['swap', 9], ['pgfault', 10], ['pgmajfault', 11],
  ['inactive_file', 12], ['active_file', 13],
]);
const V2_MEM_KEYS = new KeyTable([
  ['anon', 0], ['file', 1], ['file_mapped', 2], ['inactive_file', 4], ['active_file', 5], ['pgfault', 10], ['pgmajfault', 11],
]);
/**
 * The memory.stat slots both cgroup versions share (their key tables put inactive_file at 4, active_file at 5,
 * pgfault and pgmajfault at 10 and 11), and the working set: usage − (total_)inactive_file, floored at 0 (A.4).
 */
function applyMemoryStat(v: Float64Array, t: Float64Array): void {
  v[S.PGFAULT] = t[10]!;
  v[S.PGMAJFAULT] = t[11]!;
  v[S.INACTIVE_FILE] = t[4]!;
  v[S.ACTIVE_FILE] = t[5]!;
  const usage = v[S.MEM_USAGE]!;
  if (!Number.isNaN(usage) && !Number.isNaN(t[4]!)) v[S.MEM_WORKING_SET] = usage > t[4]! ? usage - t[4]! : 0;
}

const V1_CPU_STAT_KEYS = new KeyTable([['nr_periods', 0], ['nr_throttled', 1], ['throttled_time', 2]]);
const V2_CPU_STAT_KEYS = new KeyTable([
  ['usage_usec', 3], ['user_usec', 4], ['system_usec', 5], ['nr_periods', 0], ['nr_throttled', 1], ['throttled_usec', 2],
]);
const CPUACCT_STAT_KEYS = new KeyTable([['user', 0], ['system', 1]]);
const OOM_CONTROL_KEYS = new KeyTable([['oom_kill', 0]]);
const V2_EVENTS_KEYS = new KeyTable([['high', 0], ['max', 1], ['oom_kill', 2]]);

/** USER_HZ: cpuacct.stat counts in 1/100 s on every Linux architecture the exporter targets. */
const USER_HZ = 100;
/** cAdvisor reports limits above 2^62 as 0 ("unlimited"). */
const UNLIMITED = 2 ** 62;

function specBytes(v: number): number {
  return !Number.isFinite(v) || v > UNLIMITED || v < 0 ? 0 : v;
}

/** v1 blkio file groups in the order opencontainers/cgroups tries them: the first one holding device lines wins. */
const BLKIO_GROUPS: ReadonlyArray<readonly [string, string]> = [
  ['blkio.bfq.io_service_bytes_recursive', 'blkio.bfq.io_serviced_recursive'],
  ['blkio.io_service_bytes_recursive', 'blkio.io_serviced_recursive'],
  ['blkio.throttle.io_service_bytes_recursive', 'blkio.throttle.io_serviced_recursive'],
  ['blkio.throttle.io_service_bytes', 'blkio.throttle.io_serviced'],
];

/** Directory slots of a container: one per v1 controller, the v2 unified directory, /proc/<pid>. */
const D = { CPU: 0, CPUACCT: 1, MEMORY: 2, BLKIO: 3, PIDS: 4, PROCS: 5, UNIFIED: 6, PROC_PID: 7 } as const;

function fileTable(entries: ReadonlyArray<readonly [number, readonly string[]]>): ReadonlyMap<string, number> {
  const m = new Map<string, number>();
  for (const [dir, names] of entries) for (const n of names) m.set(n, dir);
  return m;
}

/** Which directory holds each file the reader uses (v1: by controller). */
const V1_FILES = fileTable([
  [D.CPUACCT, ['cpuacct.usage', 'cpuacct.stat', 'cpuacct.usage_percpu']],
  [D.CPU, ['cpu.stat', 'cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us']],
  [D.PROCS, ['cgroup.procs']],
  [D.MEMORY, ['memory.usage_in_bytes', 'memory.max_usage_in_bytes', 'memory.limit_in_bytes', 'memory.soft_limit_in_bytes',
    'memory.memsw.limit_in_bytes', 'memory.failcnt', 'memory.stat', 'memory.oom_control', 'memory.use_hierarchy']],
  [D.BLKIO, BLKIO_GROUPS.flat()],
  [D.PIDS, ['pids.current', 'pids.max']],
  [D.PROC_PID, ['net/dev']],
]);
const V2_FILES = fileTable([
  [D.UNIFIED, ['cpu.stat', 'cpu.max', 'cpu.weight', 'memory.current', 'memory.peak', 'memory.max', 'memory.min', 'memory.stat',
    'memory.events', 'memory.swap.current', 'memory.swap.max', 'io.stat', 'pids.current', 'pids.max', 'cgroup.procs']],
  [D.PROC_PID, ['net/dev']],
]);

/**
 * A container's file paths, built when read as mount + relative directory + name. Prebuilt paths cost more than
 * they save: ≈ 30 absolute paths per container held ≈ 13 MB of V8 strings at 1,000 containers, the largest part of
 * the exporter's live heap. Mount points are shared by all containers and the relative directory (`/docker/<id>`),
 * the same under every controller, is held once; a path built per read is a short-lived young-generation string.
 */
export class CgroupFiles {
  private readonly mounts: Array<string | undefined> = [];
  private readonly rels: string[] = [];

  constructor(private readonly table: ReadonlyMap<string, number>) {}

  /** Records directory `dir` for a slot; `mount` is the hierarchy it lies in (shared string). */
  set(slot: number, mount: string | undefined, dir: string | undefined): void {
    if (dir === undefined) return;
    if (mount === undefined || !dir.startsWith(mount) || (dir.length > mount.length && dir[mount.length] !== '/' && !mount.endsWith('/'))) {
      this.mounts[slot] = dir;
      this.rels[slot] = '';
      return;
    }
    const rel = dir.slice(mount.length);
    // A slice would keep the whole `dir` alive: reuse an equal relative path of another slot, else copy it flat.
    const same = this.rels.find((r) => r === rel);
    this.mounts[slot] = mount;
    this.rels[slot] = same ?? detach(rel);
  }

  /** Absolute path of `name`, or undefined when its controller is not mounted (or the file is not one we read). */
  get(name: string): string | undefined {
    const slot = this.table.get(name);
    const mount = slot === undefined ? undefined : this.mounts[slot];
    if (mount === undefined) return undefined;
    const rel = this.rels[slot!]!;
    return rel === '' && mount.endsWith('/') ? mount + name : mount + rel + '/' + name;
  }
}

export class CgroupReader {
  readonly r = new FileReader();
  private readonly tmp = new Float64Array(16);
  /** Per blkio group: false once a file of that group was found missing (the kernel lacks it). */
  private readonly blkGroupExists = BLKIO_GROUPS.map(() => true);
  gen = 0;

  private readonly procRoot: string;

  constructor(readonly layout: CgroupLayout, readonly percpu = false) {
    this.procRoot = path.join(layout.hostRoot, 'proc');
  }

  /** Builds the per-container record for freshly resolved paths. */
  open(paths: CgroupPaths, pid: number): ContainerCgroup {
    const L = this.layout;
    const files = new CgroupFiles(L.readV2 ? V2_FILES : V1_FILES);
    if (L.readV2) {
      files.set(D.UNIFIED, L.unified, paths.unified);
    } else {
      const { cpu, cpuacct, memory, blkio, pids } = paths.v1;
      files.set(D.CPU, L.v1.cpu, cpu);
      files.set(D.CPUACCT, L.v1.cpuacct, cpuacct);
      files.set(D.MEMORY, L.v1.memory, memory);
      files.set(D.BLKIO, L.v1.blkio, blkio);
      files.set(D.PIDS, L.v1.pids, pids);
      // cAdvisor counts processes in the cpu cgroup; fall back to cpuacct when cpu is not mounted.
      if (cpu) files.set(D.PROCS, L.v1.cpu, cpu);
      else files.set(D.PROCS, L.v1.cpuacct, cpuacct);
    }
    if (pid > 0) files.set(D.PROC_PID, this.procRoot, path.join(this.procRoot, String(pid)));
    return { id: paths.id, pid, f: files, v: new Float64Array(S.COUNT).fill(NaN), percpu: [], blk: [], net: [], gen: 0, blkGroup: -1 };
  }

  // ---- small helpers ----------------------------------------------------------------------------------
  private problems: ReadProblem[] = [];

  private fail(code: string, file: string, detail: string): void {
    this.problems.push({ code, file, detail });
  }

  /** Reads an optional file: a missing file is no error (kernel or config lacks it). */
  private readOpt(file: string | undefined): boolean {
    if (!file) return false;
    if (this.r.read(file)) return true;
    if (this.r.failure !== 'ENOENT') this.fail(ErrorCodes.CGROUP_READ, file, this.r.failure);
    return false;
  }

  private single(file: string | undefined, allowMax = false): number {
    if (!this.readOpt(file)) return NaN;
    const v = parseSingle(this.r.buf, this.r.len, allowMax);
    if (Number.isNaN(v)) this.fail(ErrorCodes.CGROUP_PARSE, file!, 'not a number');
    return v;
  }

  private keyValues(file: string | undefined, table: KeyTable, out: Float64Array): boolean {
    if (!this.readOpt(file)) return false;
    if (parseKeyValues(this.r.buf, this.r.len, table, out) < 0) {
      this.fail(ErrorCodes.CGROUP_PARSE, file!, 'malformed key/value line');
      return false;
    }
    return true;
  }

  // ---- spec (once per start) ---------------------------------------------------------------------------
  readSpec(c: ContainerCgroup): SpecValues {
    const f = c.f;
    let spec: SpecValues;
    if (this.layout.readV2) {
      let period = 0;
      let quota = 0;
      if (this.readOpt(f.get('cpu.max'))) {
        const b = this.r.buf;
        const q = parseLimitAt(b, 0, this.r.len);
        const p = parseUintAt(b, parsedEnd, this.r.len);
        if (Number.isNaN(p) || Number.isNaN(q)) this.fail(ErrorCodes.CGROUP_PARSE, f.get('cpu.max')!, 'expected "<quota|max> <period>"');
        else { period = p; quota = Number.isFinite(q) ? q : 0; }
      }
      const weight = this.single(f.get('cpu.weight'));
      // cAdvisor's convertCPUWeightToCPULimit: [1..10000] → [2..262144].
      const shares = weight >= 1 && weight <= 10000 ? 2 + Math.floor(((weight - 1) * 262142) / 9999) : 0;
      spec = {
        cpuPeriod: period, cpuQuota: quota, cpuShares: shares,
        memLimit: specBytes(this.single(f.get('memory.max'), true)),
        memReservation: specBytes(this.single(f.get('memory.min'), true)),
        swapLimit: specBytes(this.single(f.get('memory.swap.max'), true)),
        threadsMax: 0, useHierarchy: true,
      };
    } else {
      const quota = this.single(f.get('cpu.cfs_quota_us'), true);
      spec = {
        cpuPeriod: this.single(f.get('cpu.cfs_period_us')) || 0,
        cpuQuota: quota > 0 ? quota : 0,
        cpuShares: this.single(f.get('cpu.shares')) || 0,
        memLimit: specBytes(this.single(f.get('memory.limit_in_bytes'))),
        memReservation: specBytes(this.single(f.get('memory.soft_limit_in_bytes'))),
        swapLimit: specBytes(this.single(f.get('memory.memsw.limit_in_bytes'))),
        threadsMax: 0,
        useHierarchy: this.single(f.get('memory.use_hierarchy')) !== 0,
      };
    }
    const tm = this.single(f.get('pids.max'), true);
    spec.threadsMax = Number.isFinite(tm) ? tm : 0;
    return spec;
  }

  // ---- per scrape ----------------------------------------------------------------------------------------
  /**
   * Reads every per-scrape file of one container into c.v (NaN where unknown). Returns the problems met;
   * `gone` is true when the container's cgroup has disappeared (the caller drops the container for this scrape).
   */
  read(c: ContainerCgroup): { gone: boolean; problems: ReadProblem[] } {
    this.problems = [];
    c.gen = ++this.gen;
    if (!c.spec) c.spec = this.readSpec(c);
    const v = c.v;
    v.fill(NaN);
    const gone = this.layout.readV2 ? this.readV2(c) : this.readV1(c);
    if (gone) return { gone, problems: this.problems };
    this.readNet(c);
    return { gone, problems: this.problems };
  }

  private readV1(c: ContainerCgroup): boolean {
    const f = c.f;
    const v = c.v;
    const r = this.r;
    const t = this.tmp;
    // The first file tells whether the container still exists: ENOENT here means it went away.
    const memUsage = f.get('memory.usage_in_bytes');
    const probe = memUsage ?? f.get('cpuacct.usage');
    if (!probe) return true;
    if (!r.read(probe)) {
      if (r.failure === 'ENOENT') return true;
      this.fail(ErrorCodes.CGROUP_READ, probe, r.failure);
    } else {
      const x = parseSingle(r.buf, r.len);
      if (Number.isNaN(x)) this.fail(ErrorCodes.CGROUP_PARSE, probe, 'not a number');
      v[probe === memUsage ? S.MEM_USAGE : S.CPU_TOTAL_NS] = x;
    }
    // CPU
    if (probe === memUsage) v[S.CPU_TOTAL_NS] = this.single(f.get('cpuacct.usage'));
    t.fill(NaN);
    if (this.keyValues(f.get('cpuacct.stat'), CPUACCT_STAT_KEYS, t)) {
      v[S.CPU_USER_S] = t[0]! / USER_HZ;
      v[S.CPU_SYSTEM_S] = t[1]! / USER_HZ;
    }
    if (this.percpu && this.readOpt(f.get('cpuacct.usage_percpu'))) {
      let pos = 0;
      let i = 0;
      for (;;) {
        const x = parseUintAt(r.buf, pos, r.len);
        if (Number.isNaN(x)) break;
        c.percpu[i++] = x;
        pos = parsedEnd;
      }
      c.percpu.length = i;
    }
    t.fill(NaN);
    if (this.keyValues(f.get('cpu.stat'), V1_CPU_STAT_KEYS, t)) {
      v[S.CFS_PERIODS] = t[0]!;
      v[S.CFS_THROTTLED_PERIODS] = t[1]!;
      v[S.CFS_THROTTLED_S] = t[2]! / 1e9;
    }
    // Memory
    if (f.get('memory.stat')) {
      v[S.MEM_MAX_USAGE] = this.single(f.get('memory.max_usage_in_bytes'));
      v[S.MEM_FAILCNT] = this.single(f.get('memory.failcnt'));
      t.fill(NaN);
      if (this.keyValues(f.get('memory.stat'), V1_MEM_KEYS, t)) {
        const h = c.spec!.useHierarchy;
        v[S.MEM_RSS] = h ? t[0]! : t[6]!;
        v[S.MEM_CACHE] = h ? t[1]! : t[7]!;
        v[S.MEM_MAPPED_FILE] = h ? t[2]! : t[8]!;
        v[S.MEM_SWAP] = h ? t[3]! : t[9]!;
        applyMemoryStat(v, t);
      }
      t.fill(NaN);
      // oom_kill exists in memory.oom_control since kernel 4.13.
      if (this.keyValues(f.get('memory.oom_control'), OOM_CONTROL_KEYS, t)) v[S.OOM_KILL] = t[0]!;
    }
    this.readBlkioV1(c);
    // Processes and threads
    v[S.THREADS] = this.single(f.get('pids.current'));
    if (this.readOpt(f.get('cgroup.procs'))) v[S.PROCESSES] = countLines(r.buf, r.len);
    return false;
  }

  private readV2(c: ContainerCgroup): boolean {
    const f = c.f;
    const v = c.v;
    const r = this.r;
    const t = this.tmp;
    if (!r.read(f.get('memory.current')!)) {
      if (r.failure === 'ENOENT') {
        // No memory controller enabled for this cgroup is possible; the cgroup itself may still be there.
        if (!r.read(f.get('cgroup.procs')!) && r.failure === 'ENOENT') return true;
      } else this.fail(ErrorCodes.CGROUP_READ, f.get('memory.current')!, r.failure);
    } else {
      v[S.MEM_USAGE] = parseSingle(r.buf, r.len);
      if (Number.isNaN(v[S.MEM_USAGE]!)) this.fail(ErrorCodes.CGROUP_PARSE, f.get('memory.current')!, 'not a number');
    }
    t.fill(NaN);
    if (this.keyValues(f.get('cpu.stat'), V2_CPU_STAT_KEYS, t)) {
      v[S.CPU_TOTAL_NS] = t[3]! * 1000;
      v[S.CPU_USER_S] = t[4]! / 1e6;
      v[S.CPU_SYSTEM_S] = t[5]! / 1e6;
      v[S.CFS_PERIODS] = t[0]!;
      v[S.CFS_THROTTLED_PERIODS] = t[1]!;
      v[S.CFS_THROTTLED_S] = t[2]! / 1e6;
    }
    v[S.MEM_MAX_USAGE] = this.single(f.get('memory.peak'));
    t.fill(NaN);
    if (this.keyValues(f.get('memory.stat'), V2_MEM_KEYS, t)) {
      v[S.MEM_RSS] = t[0]!;
      v[S.MEM_CACHE] = t[1]!;
      v[S.MEM_MAPPED_FILE] = t[2]!;
      applyMemoryStat(v, t);
    }
    v[S.MEM_SWAP] = this.single(f.get('memory.swap.current'));
    t.fill(NaN);
    if (this.keyValues(f.get('memory.events'), V2_EVENTS_KEYS, t)) {
      v[S.EVENTS_HIGH] = t[0]!;
      v[S.EVENTS_MAX] = t[1]!;
      // No failcnt on v2: the closest equivalent is the number of times usage hit memory.max.
      v[S.MEM_FAILCNT] = t[1]!;
      v[S.OOM_KILL] = t[2]!;
    }
    this.readIoStat(c);
    v[S.THREADS] = this.single(f.get('pids.current'));
    if (this.readOpt(f.get('cgroup.procs'))) v[S.PROCESSES] = countLines(r.buf, r.len);
    return false;
  }

  private device(c: ContainerCgroup, major: number, minor: number): BlkDevice {
    for (const d of c.blk) if (d.major === major && d.minor === minor) { if (d.gen !== c.gen) { d.gen = c.gen; d.bytes.fill(NaN); d.ios.fill(NaN); } return d; }
    // One buffer for both views: a device costs one ArrayBuffer, not two (×3 devices ×1,000 containers adds up).
    const both = new Float64Array(12).fill(NaN);
    const d: BlkDevice = { major, minor, bytes: both.subarray(0, 6), ios: both.subarray(6), gen: c.gen };
    c.blk.push(d);
    return d;
  }

  private pruneDevices(c: ContainerCgroup): void {
    if (c.blk.some((d) => d.gen !== c.gen)) c.blk = c.blk.filter((d) => d.gen === c.gen);
  }

  /**
   * Parses a v1 blkio stat file (`MAJ:MIN Op value` lines, then `Total n`) into bytes or ios.
   * Returns the number of device lines, or -1 when malformed.
   */
  private parseBlkioV1(c: ContainerCgroup, ios: boolean): number {
    const b = this.r.buf;
    const len = this.r.len;
    let pos = 0;
    let n = 0;
    while (pos < len) {
      const major = parseUintAt(b, pos, len);
      if (Number.isNaN(major)) {
        // `Total N` or an empty line
        while (pos < len && b[pos] !== 10) pos++;
        pos++;
        continue;
      }
      if (b[parsedEnd] !== 58 /* : */) return -1;
      const minor = parseUintAt(b, parsedEnd + 1, len);
      if (Number.isNaN(minor)) return -1;
      let p = parsedEnd + 1;
      const os = p;
      while (p < len && b[p] !== 32 && b[p] !== 10) p++;
      const op = opIndex(b, os, p);
      const val = parseUintAt(b, p, len);
      if (Number.isNaN(val)) return -1;
      if (op >= 0) {
        const d = this.device(c, major, minor);
        (ios ? d.ios : d.bytes)[op] = val;
      }
      n++;
      pos = parsedEnd;
      while (pos < len && b[pos] !== 10) pos++;
      pos++;
    }
    return n;
  }

  private readBlkioV1(c: ContainerCgroup): void {
    const f = c.f;
    if (!f.get(BLKIO_GROUPS[0]![0])) return;
    const tryGroup = (g: number): boolean => {
      const [bytesFile, iosFile] = BLKIO_GROUPS[g]!;
      if (!this.r.read(f.get(bytesFile)!)) {
        if (this.r.failure === 'ENOENT') this.blkGroupExists[g] = false;
        else this.fail(ErrorCodes.CGROUP_READ, f.get(bytesFile)!, this.r.failure);
        return false;
      }
      const n = this.parseBlkioV1(c, false);
      if (n < 0) { this.fail(ErrorCodes.CGROUP_PARSE, f.get(bytesFile)!, 'malformed blkio line'); return false; }
      if (n === 0) return false;
      if (this.readOpt(f.get(iosFile)) && this.parseBlkioV1(c, true) < 0) this.fail(ErrorCodes.CGROUP_PARSE, f.get(iosFile)!, 'malformed blkio line');
      return true;
    };
    // Once a group had device lines it keeps them; until then try the groups in order (missing ones skipped).
    if (c.blkGroup >= 0 && tryGroup(c.blkGroup)) { this.pruneDevices(c); return; }
    c.blkGroup = -1;
    for (let g = 0; g < BLKIO_GROUPS.length; g++) {
      if (!this.blkGroupExists[g]) continue;
      // The non-recursive throttle files never hold a device the recursive ones lack: skip them when those exist.
      if (g === 3 && this.blkGroupExists[2]) continue;
      if (tryGroup(g)) { c.blkGroup = g; break; }
    }
    this.pruneDevices(c);
  }

  /** v2 io.stat: `MAJ:MIN rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…` per device. */
  private readIoStat(c: ContainerCgroup): void {
    const file = c.f.get('io.stat');
    if (!this.readOpt(file)) { this.pruneDevices(c); return; }
    const b = this.r.buf;
    const len = this.r.len;
    let pos = 0;
    while (pos < len) {
      const major = parseUintAt(b, pos, len);
      if (Number.isNaN(major) || b[parsedEnd] !== 58) {
        if (pos < len && b[pos] !== 10) this.fail(ErrorCodes.CGROUP_PARSE, file!, 'malformed io.stat line');
        while (pos < len && b[pos] !== 10) pos++;
        pos++;
        continue;
      }
      const minor = parseUintAt(b, parsedEnd + 1, len);
      const d = this.device(c, major, minor);
      let p = parsedEnd;
      while (p < len && b[p] !== 10) {
        while (p < len && b[p] === 32) p++;
        const ks = p;
        while (p < len && b[p] !== 61 /* = */ && b[p] !== 32 && b[p] !== 10) p++;
        const ke = p;
        if (b[p] !== 61) continue;
        const val = parseUintAt(b, p + 1, len);
        p = parsedEnd;
        const kl = ke - ks;
        // rbytes / wbytes / rios / wios (dbytes, dios and cost.* are not exported, like cAdvisor)
        if (kl === 6 && b[ks + 1] === 98 /* b */) { if (b[ks] === 114) d.bytes[0] = val; else if (b[ks] === 119) d.bytes[1] = val; }
        else if (kl === 4 && b[ks + 1] === 105 /* i */ && b[ks + 2] === 111) { if (b[ks] === 114) d.ios[0] = val; else if (b[ks] === 119) d.ios[1] = val; }
      }
      pos = p + 1;
    }
    this.pruneDevices(c);
  }

  /** /proc/<pid>/net/dev: skips 2 header lines and lo*, veth*, docker*, nerdctl* (cAdvisor's networkStatsFromProc). */
  private readNet(c: ContainerCgroup): void {
    const file = c.f.get('net/dev');
    if (!file) return;
    if (!this.r.read(file)) {
      // The pid is gone (container stopping) or /proc is not the host's: no network stats, like cAdvisor.
      if (this.r.failure !== 'ENOENT' && this.r.failure !== 'ESRCH') this.fail(ErrorCodes.CGROUP_READ, file, this.r.failure);
      c.net.length = 0;
      return;
    }
    const b = this.r.buf;
    const len = this.r.len;
    let pos = 0;
    let line = 0;
    let count = 0;
    while (pos < len) {
      const ls = pos;
      while (pos < len && b[pos] !== 10) pos++;
      const le = pos;
      pos++;
      if (line++ < 2) continue;
      let s = ls;
      while (s < le && b[s] === 32) s++;
      let colon = s;
      while (colon < le && b[colon] !== 58) colon++;
      if (colon >= le) continue;
      if (skipInterface(b, s, colon)) continue;
      let ni = c.net[count];
      if (!ni || !sameName(ni.name, b, s, colon)) {
        ni = { name: b.toString('latin1', s, colon), v: new Float64Array(8), gen: 0 };
        c.net[count] = ni;
      }
      let p = colon + 1;
      let ok = true;
      for (let k = 0; k < 16; k++) {
        const x = parseUintAt(b, p, le);
        if (Number.isNaN(x)) { ok = false; break; }
        p = parsedEnd;
        if (k < 4) ni.v[k] = x;
        else if (k >= 8 && k < 12) ni.v[k - 4] = x;
      }
      if (!ok) { this.fail(ErrorCodes.CGROUP_PARSE, file, 'net/dev line without 16 counters'); continue; }
      count++;
    }
    c.net.length = count;
  }
}

function opIndex(b: Buffer, s: number, e: number): number {
  const l = e - s;
  const c0 = b[s];
  if (l === 4 && c0 === 82 /* R */) return 0;
  if (l === 5 && c0 === 87 /* W */) return 1;
  if (l === 4 && c0 === 83 /* S */) return 2;
  if (l === 5 && c0 === 65 /* A */) return 3;
  if (l === 7 && c0 === 68 /* D */) return 4;
  if (l === 5 && c0 === 84 /* T */) return 5;
  return -1;
}

function startsWith(b: Buffer, s: number, e: number, prefix: string): boolean {
  if (e - s < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[s + i] !== prefix.charCodeAt(i)) return false;
  return true;
}

function skipInterface(b: Buffer, s: number, e: number): boolean {
  return startsWith(b, s, e, 'lo') || startsWith(b, s, e, 'veth') || startsWith(b, s, e, 'docker') || startsWith(b, s, e, 'nerdctl');
}

function sameName(name: string, b: Buffer, s: number, e: number): boolean {
  if (name.length !== e - s) return false;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) !== b[s + i]) return false;
  return true;
}
