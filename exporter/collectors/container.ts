/**
 * cAdvisor-compatible container_* families for the running containers of this node, read straight from the
 * cgroup hierarchy and /proc at scrape time (see exporter/cgroup/reader.ts for the files) and written as
 * exposition text. Names, types, units and labels follow cAdvisor (anchors §A.2); every series of every container
 * carries the same label names (id, name, image, the Swarm labels and the configured extra labels; '' where
 * absent). No explicit timestamps, so Prometheus' staleness handling removes a stopped container's series.
 */
import { ErrorCodes } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { CollectorStats } from '../../core/metrics/collector.js';
import { BufferPool, CopySink, ExpositionWriter, ascii, utf8, type ByteSink } from '../../core/metrics/exposition-writer.js';
import type { TextCollector } from '../../core/runtime/component.js';
import type { RawEvent } from '../../core/docker/types.js';
import type { ContainerRecord } from '../../core/state/types.js';
import { DeviceNames } from '../cgroup/devices.js';
import { detectLayout, type CgroupLayout } from '../../core/cgroup/layout.js';
import { BLK_OPS, CgroupReader, S, type ContainerCgroup } from '../cgroup/reader.js';
import { resolveCgroupPaths } from '../cgroup/resolve.js';

/** What the collector needs from the state model; SwarmState satisfies it, the benchmark fakes it. */
export interface ContainerSource {
  readonly containers: ReadonlyMap<string, ContainerRecord>;
  readonly localNode?: { engine: { cgroupDriver: string } };
  on?(event: 'container-event', listener: (ev: RawEvent) => void): unknown;
  off?(event: 'container-event', listener: (ev: RawEvent) => void): unknown;
}

export interface ContainerCollectorOptions {
  state: ContainerSource;
  /** Per-file / per-container errors are counted as swarmwatch_collector_errors_total{collector="containers",code}. */
  stats?: Pick<CollectorStats, 'countError'>;
  /** Where the host's / is mounted (default '/'). */
  hostRoot?: string;
  /** Extra Docker label keys to export (option exporter.container-labels). */
  extraLabels?: readonly string[];
  /** Per-CPU split of container_cpu_usage_seconds_total (v1 only; option exporter.percpu). */
  percpu?: boolean;
  /** 'auto' (default: the engine's CgroupDriver), 'cgroupfs' or 'systemd'; used only when /proc/<pid>/cgroup is unusable. */
  cgroupDriver?: 'auto' | 'cgroupfs' | 'systemd';
  log?: Logger;
  /** Clock in ms (tests). */
  now?: () => number;
}

export interface ContainerCollector extends TextCollector {
  collect(): string;
  /**
   * Streams the families into `sink` chunk by chunk, waiting while the sink holds too many (a slow client bounds
   * memory instead of growing it). Scrapes run one at a time: a second one starts when the first is written.
   */
  stream(sink: ByteSink): Promise<void>;
  /** Forget cached limits and cgroup paths of a container (call on a container `update` event; done automatically when subscribed). */
  invalidate(id: string): void;
  /** Unsubscribes from the state's events. */
  stop(): void;
  /** The detected layout (undefined until the first scrape). */
  layout(): CgroupLayout | undefined;
}

export const COLLECTOR_NAME = 'containers';

/** Docker label → exported label name, always present (anchors §A.1). */
export const SWARM_LABELS = [
  'com.docker.swarm.service.name', 'com.docker.swarm.service.id', 'com.docker.swarm.task.name',
  'com.docker.swarm.task.id', 'com.docker.swarm.node.id', 'com.docker.stack.namespace',
] as const;

export function sanitizeLabelName(key: string): string {
  return 'container_label_' + key.replace(/[^a-zA-Z0-9_]/g, '_');
}

export function escapeLabelValue(v: string): string {
  if (!/[\\"\n]/.test(v)) return v;
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** One container as one scrape sees it: the cgroup record is captured, so an `update` event mid-stream cannot pull it away. */
interface Row {
  e: Entry;
  cg: ContainerCgroup;
}

/** What the render steps of one scrape share. */
interface Scrape {
  rows: Row[];
  nowSec: number;
  percpu: boolean;
  interfaceTail(name: string): Buffer;
  deviceTails(major: number, minor: number): DeviceTails;
}

interface DeviceTails {
  gen: number;
  /** Escaped device name. */
  name: string;
  /** `,device="…"} ` */
  device: Buffer;
  /** `,device="…",major="…",minor="…",operation="<op>"} ` by BLK_OPS index. */
  usage: Buffer[];
}

/**
 * Renders one family for rows[from…] and returns the index of the next row: rows.length when done, less when the
 * writer's sink is full (the driver waits for room, then calls again). Steps are small functions on purpose: one
 * large render function made TurboFan's compilation of it cost ≈ 17 MB of RSS (measured, docs/benchmarks.md).
 */
type Step = (sc: Scrape, from: number, w: ExpositionWriter) => number;

/** A family's name and its `# HELP`/`# TYPE` lines, encoded once. */
interface Family {
  name: Buffer;
  header: Buffer;
}

function family(name: string, type: string, help: string): Family {
  return { name: ascii(name), header: ascii(`# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`) };
}

const CLOSE = ascii('} ');

interface Entry {
  id: string;
  startedAt: number | undefined;
  pid: number;
  name: string;
  image: string;
  cg?: ContainerCgroup;
  /** `{label="…",…` without the closing brace, UTF-8: encoded once per container change, copied into every series. */
  lbl: Buffer;
  /** Highest oom count shown so far (the counter never goes down). */
  oom: number;
  seen: number;
  /** This scrape's data is complete enough to emit. */
  live: boolean;
}

export function createContainerCollector(opts: ContainerCollectorOptions): ContainerCollector {
  const hostRoot = opts.hostRoot ?? '/';
  const now = opts.now ?? Date.now;
  const log = opts.log;
  // Fixed label-name set: the union cAdvisor would compute is bounded by our allowlist.
  const labelMap = new Map<string, string>();
  for (const k of [...SWARM_LABELS, ...(opts.extraLabels ?? [])]) {
    const key = k.trim();
    if (!key) continue;
    const name = sanitizeLabelName(key);
    if (![...labelMap.values()].includes(name)) labelMap.set(key, name);
  }
  const labelKeys = [...labelMap.entries()].sort((a, b) => (a[1] < b[1] ? -1 : 1));

  let layout: CgroupLayout | undefined;
  let reader: CgroupReader | undefined;
  let devices: DeviceNames | undefined;
  let layoutRetryAt = 0;
  const entries = new Map<string, Entry>();
  /** Engine `oom` events per container id since we started watching. */
  const engineOoms = new Map<string, number>();
  const warned = new Set<string>();
  let scrapeGen = 0;

  const onEvent = (ev: RawEvent): void => {
    if (ev.Type !== 'container') return;
    const id = ev.Actor?.ID ?? ev.id ?? '';
    if (!id) return;
    const action = ev.Action.split(':')[0];
    if (action === 'oom') engineOoms.set(id, (engineOoms.get(id) ?? 0) + 1);
    else if (action === 'update') invalidate(id);
    else if (action === 'destroy') { engineOoms.delete(id); entries.delete(id); }
  };
  opts.state.on?.('container-event', onEvent);

  function invalidate(id: string): void {
    const e = entries.get(id);
    if (e) { e.cg = undefined; }
  }

  function labelsOf(rec: ContainerRecord, cgroupId: string): Buffer {
    let s = '{';
    for (const [key, name] of labelKeys) s += `${name}="${escapeLabelValue(rec.labels?.[key] ?? '')}",`;
    return utf8(`${s}id="${escapeLabelValue(cgroupId)}",image="${escapeLabelValue(rec.image ?? '')}",name="${escapeLabelValue(rec.name ?? '')}"`);
  }

  function ensureLayout(errors: Map<string, number>): boolean {
    if (layout) return true;
    if (now() < layoutRetryAt) return false;
    try {
      layout = detectLayout(hostRoot);
      reader = new CgroupReader(layout, opts.percpu === true);
      devices = new DeviceNames(hostRoot);
      log?.info('cgroup layout detected', { mode: layout.mode, root: layout.root, readV2: layout.readV2 });
      return true;
    } catch (err) {
      layoutRetryAt = now() + 30_000;
      errors.set(ErrorCodes.CGROUP_READ, (errors.get(ErrorCodes.CGROUP_READ) ?? 0) + 1);
      log?.error((err as Error).message);
      return false;
    }
  }

  function driver(): string | undefined {
    if (opts.cgroupDriver && opts.cgroupDriver !== 'auto') return opts.cgroupDriver;
    return opts.state.localNode?.engine.cgroupDriver || undefined;
  }

  function problem(errors: Map<string, number>, id: string, code: string, file: string, detail: string): void {
    errors.set(code, (errors.get(code) ?? 0) + 1);
    const key = `${id}\0${code}\0${file}`;
    if (!warned.has(key)) {
      if (warned.size > 10_000) warned.clear();
      warned.add(key);
      log?.warn(`container ${id.slice(0, 12)}: ${code === ErrorCodes.CGROUP_PARSE ? 'cannot parse' : 'cannot read'} ${file}: ${detail}`, { code });
    }
  }

  /** Reads every running container; returns those with data, in a stable order. */
  function gather(errors: Map<string, number>): Row[] {
    const gen = ++scrapeGen;
    const live: Row[] = [];
    const rd = reader!;
    for (const rec of opts.state.containers.values()) {
      if (rec.state !== 'running' && rec.state !== 'paused') continue;
      let e = entries.get(rec.id);
      if (!e || e.startedAt !== rec.startedAt || e.pid !== rec.pid) {
        e = { id: rec.id, startedAt: rec.startedAt, pid: rec.pid, name: rec.name, image: rec.image, lbl: NO_LABELS, oom: e?.oom ?? 0, seen: gen, live: false };
        entries.set(rec.id, e);
      }
      e.seen = gen;
      e.live = false;
      if (!e.cg) {
        const paths = resolveCgroupPaths(layout!, { id: rec.id, pid: rec.pid, cgroupParent: rec.cgroupParent ?? '' }, driver());
        if (!paths) { problem(errors, rec.id, ErrorCodes.CGROUP_READ, `cgroup of ${rec.id}`, 'no cgroup directory found'); continue; }
        e.cg = rd.open(paths, rec.pid);
        e.lbl = labelsOf(rec, paths.id);
        e.name = rec.name; e.image = rec.image;
      } else if (e.name !== rec.name || e.image !== rec.image) {
        e.name = rec.name; e.image = rec.image;
        e.lbl = labelsOf(rec, e.cg.id);
      }
      const { gone, problems } = rd.read(e.cg);
      for (const p of problems) problem(errors, rec.id, p.code, p.file, p.detail);
      if (gone) {
        // Stopped between the state update and this read: skip it; re-resolve if it is still listed next time.
        problem(errors, rec.id, ErrorCodes.CGROUP_READ, `cgroup of ${rec.id}`, 'container cgroup vanished');
        e.cg = undefined;
        continue;
      }
      const cgOom = e.cg.v[S.OOM_KILL]!;
      e.oom = Math.max(e.oom, engineOoms.get(rec.id) ?? 0, Number.isNaN(cgOom) ? 0 : cgOom);
      e.live = true;
      live.push({ e, cg: e.cg });
    }
    for (const [id, e] of entries) if (e.seen !== gen) entries.delete(id);
    return live;
  }

  /** `,interface="…"} ` per interface name, encoded once. */
  const interfaceTails = new Map<string, Buffer>();
  function interfaceTail(name: string): Buffer {
    let t = interfaceTails.get(name);
    if (!t) {
      if (interfaceTails.size > 4096) interfaceTails.clear();
      t = utf8(`,interface="${escapeLabelValue(name)}"} `);
      interfaceTails.set(name, t);
    }
    return t;
  }

  /** Per block device: its `,device="…"} ` tail and the six blkio usage tails; the name is looked up once per scrape. */
  const deviceTailCache = new Map<number, DeviceTails>();
  function deviceTails(major: number, minor: number, gen: number): DeviceTails {
    const key = major * 0x100000 + minor;
    let t = deviceTailCache.get(key);
    if (t && t.gen === gen) return t;
    const name = escapeLabelValue(devices!.name(major, minor, gen));
    if (!t || t.name !== name) {
      if (deviceTailCache.size > 4096) deviceTailCache.clear();
      t = {
        gen, name, device: utf8(`,device="${name}"} `),
        usage: BLK_OPS.map((op) => utf8(`,device="${name}",major="${major}",minor="${minor}",operation="${op}"} `)),
      };
      deviceTailCache.set(key, t);
    }
    t.gen = gen;
    return t;
  }

  function scrapeOf(rows: Row[]): Scrape {
    const gen = scrapeGen;
    return {
      rows,
      nowSec: now() / 1000,
      percpu: opts.percpu === true && !!layout && !layout.readV2,
      interfaceTail,
      deviceTails: (major, minor) => deviceTails(major, minor, gen),
    };
  }

  const pool = new BufferPool();
  /** Starts a scrape: layout, reads; errors are counted, never thrown. Returns the rows to render, or none. */
  function begin(errors: Map<string, number>): Row[] {
    try {
      if (ensureLayout(errors)) return gather(errors);
    } catch (err) {
      fail(errors, err);
    }
    return [];
  }
  function fail(errors: Map<string, number>, err: unknown): void {
    // Never throw out of a scrape: whatever went wrong is counted and the remaining families are left out.
    errors.set(ErrorCodes.INTERNAL, (errors.get(ErrorCodes.INTERNAL) ?? 0) + 1);
    log?.error(`container collector failed: ${(err as Error).message}`);
  }
  function finish(errors: Map<string, number>): void {
    if (opts.stats) for (const [code, n] of errors) opts.stats.countError(COLLECTOR_NAME, code, n);
  }

  /**
   * Writes every family of one scrape, one step at a time; pauses (yields) where the sink asked to wait, and stops
   * once the client is gone (its chunks are released at once then, so waiting alone would never notice).
   */
  function* render(sc: Scrape, w: ExpositionWriter): Generator<void> {
    for (const step of STEPS) {
      let i = 0;
      do {
        i = step(sc, i, w);
        if (w.closed) return;
        if (w.mustWait) yield;
      } while (i < sc.rows.length);
    }
  }

  async function streamOnce(sink: ByteSink): Promise<void> {
    const errors = new Map<string, number>();
    const sc = scrapeOf(begin(errors));
    const w = new ExpositionWriter(sink, pool);
    try {
      for (const _ of render(sc, w)) {
        await w.room();
        if (w.closed) break;
      }
    } catch (err) {
      fail(errors, err);
    }
    w.end();
    finish(errors);
  }

  let previous: Promise<void> = Promise.resolve();
  function stream(sink: ByteSink): Promise<void> {
    const run = previous.then(() => streamOnce(sink));
    previous = run.catch(() => undefined);
    return run;
  }

  return {
    name: COLLECTOR_NAME,
    stream,
    collect(): string {
      const errors = new Map<string, number>();
      const sc = scrapeOf(begin(errors));
      const sink = new CopySink();
      const w = new ExpositionWriter(sink, pool);
      try {
        // The copying sink releases every chunk at once: render never pauses, the scrape is synchronous.
        for (const _ of render(sc, w));
      } catch (err) {
        fail(errors, err);
      }
      w.end();
      finish(errors);
      return sink.text();
    },
    invalidate,
    stop(): void {
      opts.state.off?.('container-event', onEvent);
    },
    layout: () => layout,
  };
}

const NO_LABELS = Buffer.alloc(0);
const CPU_TOTAL = ascii(',cpu="total"} ');
const CPU_TAILS: Buffer[] = [];
/** `,cpu="cpuNN"} ` (cAdvisor pads to two digits). */
function cpuTail(i: number): Buffer {
  return (CPU_TAILS[i] ??= ascii(`,cpu="cpu${i < 10 ? '0' : ''}${i}"} `));
}
const PGFAULT_CONTAINER = ascii(',failure_type="pgfault",scope="container"} ');
const PGFAULT_HIERARCHY = ascii(',failure_type="pgfault",scope="hierarchy"} ');
const PGMAJFAULT_CONTAINER = ascii(',failure_type="pgmajfault",scope="container"} ');
const PGMAJFAULT_HIERARCHY = ascii(',failure_type="pgmajfault",scope="hierarchy"} ');

/**
 * cAdvisor types container_memory_failcnt as a counter, but promtool's lint requires counters to end in
 * `_total`; the name is kept (queries and dashboards use it) and the type is declared gauge so that
 * `promtool check metrics` is clean. rate()/increase() work on it unchanged.
 */
const FAILCNT_TYPE = 'gauge';

/** Every family, in output order (names, types and help texts are cAdvisor's). */
const F = {
  cpuUsage: family('container_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed in seconds.'),
  cpuUser: family('container_cpu_user_seconds_total', 'counter', 'Cumulative user cpu time consumed in seconds.'),
  cpuSystem: family('container_cpu_system_seconds_total', 'counter', 'Cumulative system cpu time consumed in seconds.'),
  cfsPeriods: family('container_cpu_cfs_periods_total', 'counter', 'Number of elapsed enforcement period intervals.'),
  cfsThrottledPeriods: family('container_cpu_cfs_throttled_periods_total', 'counter', 'Number of throttled period intervals.'),
  cfsThrottledSeconds: family('container_cpu_cfs_throttled_seconds_total', 'counter', 'Total time duration the container has been throttled.'),
  memUsage: family('container_memory_usage_bytes', 'gauge', 'Current memory usage in bytes, including all memory regardless of when it was accessed'),
  memWorkingSet: family('container_memory_working_set_bytes', 'gauge', 'Current working set in bytes.'),
  memRss: family('container_memory_rss', 'gauge', 'Size of RSS in bytes.'),
  memCache: family('container_memory_cache', 'gauge', 'Number of bytes of page cache memory.'),
  memMappedFile: family('container_memory_mapped_file', 'gauge', 'Size of memory mapped files in bytes.'),
  memSwap: family('container_memory_swap', 'gauge', 'Container swap usage in bytes.'),
  memMaxUsage: family('container_memory_max_usage_bytes', 'gauge', 'Maximum memory usage recorded in bytes'),
  memActiveFile: family('container_memory_total_active_file_bytes', 'gauge', 'Current total active file in bytes.'),
  memInactiveFile: family('container_memory_total_inactive_file_bytes', 'gauge', 'Current total inactive file in bytes.'),
  memFailcnt: family('container_memory_failcnt', FAILCNT_TYPE, 'Number of memory usage hits limits'),
  memFailures: family('container_memory_failures_total', 'counter', 'Cumulative count of memory allocation failures.'),
  memEventsHigh: family('container_memory_events_high_total', 'counter', 'Number of times the cgroup usage went over memory.high (cgroup v2).'),
  memEventsMax: family('container_memory_events_max_total', 'counter', 'Number of times the cgroup usage was about to go over memory.max (cgroup v2).'),
  oomEvents: family('container_oom_events_total', 'counter', 'Count of out of memory events observed for the container'),
  specCpuPeriod: family('container_spec_cpu_period', 'gauge', 'CPU period of the container.'),
  specCpuQuota: family('container_spec_cpu_quota', 'gauge', 'CPU quota of the container.'),
  specCpuShares: family('container_spec_cpu_shares', 'gauge', 'CPU share of the container.'),
  specMemLimit: family('container_spec_memory_limit_bytes', 'gauge', 'Memory limit for the container.'),
  specMemReservation: family('container_spec_memory_reservation_limit_bytes', 'gauge', 'Memory reservation limit for the container.'),
  specSwapLimit: family('container_spec_memory_swap_limit_bytes', 'gauge', 'Memory swap limit for the container.'),
  fsReadsBytes: family('container_fs_reads_bytes_total', 'counter', 'Cumulative count of bytes read'),
  fsWritesBytes: family('container_fs_writes_bytes_total', 'counter', 'Cumulative count of bytes written'),
  fsReads: family('container_fs_reads_total', 'counter', 'Cumulative count of reads completed'),
  fsWrites: family('container_fs_writes_total', 'counter', 'Cumulative count of writes completed'),
  blkioDeviceUsage: family('container_blkio_device_usage_total', 'counter', 'Blkio Device bytes usage'),
  processes: family('container_processes', 'gauge', 'Number of processes running inside the container.'),
  threads: family('container_threads', 'gauge', 'Number of threads running inside the container'),
  threadsMax: family('container_threads_max', 'gauge', 'Maximum number of threads allowed inside the container, infinity if value is zero'),
  startTime: family('container_start_time_seconds', 'gauge', 'Start time of the container since unix epoch in seconds.'),
  lastSeen: family('container_last_seen', 'gauge', 'Last time a container was seen by the exporter'),
};

const NET: Family[] = [
  family('container_network_receive_bytes_total', 'counter', 'Cumulative count of bytes received'),
  family('container_network_receive_packets_total', 'counter', 'Cumulative count of packets received'),
  family('container_network_receive_errors_total', 'counter', 'Cumulative count of errors encountered while receiving'),
  family('container_network_receive_packets_dropped_total', 'counter', 'Cumulative count of packets dropped while receiving'),
  family('container_network_transmit_bytes_total', 'counter', 'Cumulative count of bytes transmitted'),
  family('container_network_transmit_packets_total', 'counter', 'Cumulative count of packets transmitted'),
  family('container_network_transmit_errors_total', 'counter', 'Cumulative count of errors encountered while transmitting'),
  family('container_network_transmit_packets_dropped_total', 'counter', 'Cumulative count of packets dropped while transmitting'),
];

type EmitRow = (r: Row, sc: Scrape, w: ExpositionWriter, f: Family) => void;

/**
 * A family's step: its header, then `emitRow` for each container from `from` on, pausing where the writer must wait
 * for the socket. The loop is one small function shared by every family and the per-row work a small function per
 * kind of family: V8's optimising compile of one large render function held ≈ 17 MiB (docs/benchmarks.md).
 */
function rowStep(f: Family, emitRow: EmitRow): Step {
  return (sc, from, w) => {
    if (from === 0) w.family(f.header);
    const rows = sc.rows;
    let i = from;
    while (i < rows.length) {
      emitRow(rows[i++]!, sc, w, f);
      if (w.mustWait) break;
    }
    return i;
  };
}

/** A family with one series per container from a value slot. */
function slotStep(f: Family, slot: number): Step {
  return rowStep(f, (r, _sc, w) => {
    const x = r.cg.v[slot]!;
    if (x === x) w.series(f.name, r.e.lbl, CLOSE, x);
  });
}

/** A family with at most one series per container, from `pick` (undefined or NaN: no series). */
function valueStep(f: Family, pick: (r: Row, sc: Scrape) => number | undefined): Step {
  return rowStep(f, (r, sc, w) => {
    const x = pick(r, sc);
    if (x !== undefined && x === x) w.series(f.name, r.e.lbl, CLOSE, x);
  });
}

const cpuUsageStep = rowStep(F.cpuUsage, ({ e, cg }, sc, w, f) => {
  if (sc.percpu && cg.percpu.length > 0) {
    for (let k = 0; k < cg.percpu.length; k++) {
      const x = cg.percpu[k]!;
      if (x > 0) w.series(f.name, e.lbl, cpuTail(k), x / 1e9);
    }
  } else {
    const x = cg.v[S.CPU_TOTAL_NS]!;
    if (x === x) w.series(f.name, e.lbl, CPU_TOTAL, x / 1e9);
  }
});

const memFailuresStep = rowStep(F.memFailures, ({ e, cg }, _sc, w, f) => {
  const pf = cg.v[S.PGFAULT]!;
  const pm = cg.v[S.PGMAJFAULT]!;
  if (pf === pf) { w.series(f.name, e.lbl, PGFAULT_CONTAINER, pf); w.series(f.name, e.lbl, PGFAULT_HIERARCHY, pf); }
  if (pm === pm) { w.series(f.name, e.lbl, PGMAJFAULT_CONTAINER, pm); w.series(f.name, e.lbl, PGMAJFAULT_HIERARCHY, pm); }
});

/** One of the 8 network families: a series per interface, column k of /proc/<pid>/net/dev. */
function networkStep(f: Family, k: number): Step {
  return rowStep(f, ({ e, cg }, sc, w) => {
    for (const ni of cg.net) w.series(f.name, e.lbl, sc.interfaceTail(ni.name), ni.v[k]!);
  });
}

/** container_fs_*: a series per block device, bytes or operations of one direction. */
function fsStep(f: Family, ios: boolean, op: number): Step {
  return rowStep(f, ({ e, cg }, sc, w) => {
    for (const d of cg.blk) {
      const x = (ios ? d.ios : d.bytes)[op]!;
      if (x === x) w.series(f.name, e.lbl, sc.deviceTails(d.major, d.minor).device, x);
    }
  });
}

const blkioUsageStep = rowStep(F.blkioDeviceUsage, ({ e, cg }, sc, w, f) => {
  for (const d of cg.blk) {
    const tails = sc.deviceTails(d.major, d.minor).usage;
    for (let op = 0; op < BLK_OPS.length; op++) {
      const x = d.bytes[op]!;
      if (x === x) w.series(f.name, e.lbl, tails[op]!, x);
    }
  }
});

/** Every family in output order (cAdvisor's). */
const STEPS: Step[] = [
  // CPU
  cpuUsageStep,
  slotStep(F.cpuUser, S.CPU_USER_S),
  slotStep(F.cpuSystem, S.CPU_SYSTEM_S),
  slotStep(F.cfsPeriods, S.CFS_PERIODS),
  slotStep(F.cfsThrottledPeriods, S.CFS_THROTTLED_PERIODS),
  slotStep(F.cfsThrottledSeconds, S.CFS_THROTTLED_S),
  // Memory
  slotStep(F.memUsage, S.MEM_USAGE),
  slotStep(F.memWorkingSet, S.MEM_WORKING_SET),
  slotStep(F.memRss, S.MEM_RSS),
  slotStep(F.memCache, S.MEM_CACHE),
  slotStep(F.memMappedFile, S.MEM_MAPPED_FILE),
  slotStep(F.memSwap, S.MEM_SWAP),
  slotStep(F.memMaxUsage, S.MEM_MAX_USAGE),
  slotStep(F.memActiveFile, S.ACTIVE_FILE),
  slotStep(F.memInactiveFile, S.INACTIVE_FILE),
  slotStep(F.memFailcnt, S.MEM_FAILCNT),
  memFailuresStep,
  slotStep(F.memEventsHigh, S.EVENTS_HIGH),
  slotStep(F.memEventsMax, S.EVENTS_MAX),
  valueStep(F.oomEvents, (r) => r.e.oom),
  // Spec (limits)
  valueStep(F.specCpuPeriod, (r) => r.cg.spec?.cpuPeriod),
  valueStep(F.specCpuQuota, (r) => (r.cg.spec && r.cg.spec.cpuQuota > 0 ? r.cg.spec.cpuQuota : undefined)),
  valueStep(F.specCpuShares, (r) => r.cg.spec?.cpuShares),
  valueStep(F.specMemLimit, (r) => r.cg.spec?.memLimit),
  valueStep(F.specMemReservation, (r) => r.cg.spec?.memReservation),
  valueStep(F.specSwapLimit, (r) => r.cg.spec?.swapLimit),
  // Network
  ...NET.map((f, k) => networkStep(f, k)),
  // Block I/O
  fsStep(F.fsReadsBytes, false, 0),
  fsStep(F.fsWritesBytes, false, 1),
  fsStep(F.fsReads, true, 0),
  fsStep(F.fsWrites, true, 1),
  blkioUsageStep,
  // Processes
  slotStep(F.processes, S.PROCESSES),
  slotStep(F.threads, S.THREADS),
  valueStep(F.threadsMax, (r) => r.cg.spec?.threadsMax),
  // Lifecycle
  valueStep(F.startTime, (r) => r.e.startedAt),
  valueStep(F.lastSeen, (_r, sc) => sc.nowSec),
];
