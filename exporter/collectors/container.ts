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
import type { TextCollector } from '../../core/runtime/component.js';
import type { RawEvent } from '../../core/docker/types.js';
import type { ContainerRecord } from '../../core/state/types.js';
import { DeviceNames } from '../cgroup/devices.js';
import { detectLayout, type CgroupLayout } from '../cgroup/layout.js';
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
  stream(write: (chunk: string) => void): void;
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

/** Prometheus text number: integers as is, +Inf/-Inf/NaN spelled out. */
function num(x: number): string {
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  return String(x);
}

interface Entry {
  id: string;
  startedAt: number | undefined;
  pid: number;
  name: string;
  image: string;
  cg?: ContainerCgroup;
  /** `{label="…",…` without the closing brace. */
  lbl: string;
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

  function labelsOf(rec: ContainerRecord, cgroupId: string): string {
    let s = '{';
    for (const [key, name] of labelKeys) s += `${name}="${escapeLabelValue(rec.labels?.[key] ?? '')}",`;
    return `${s}id="${escapeLabelValue(cgroupId)}",image="${escapeLabelValue(rec.image ?? '')}",name="${escapeLabelValue(rec.name ?? '')}"`;
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
  function gather(errors: Map<string, number>): Entry[] {
    const gen = ++scrapeGen;
    const live: Entry[] = [];
    const rd = reader!;
    for (const rec of opts.state.containers.values()) {
      if (rec.state !== 'running' && rec.state !== 'paused') continue;
      let e = entries.get(rec.id);
      if (!e || e.startedAt !== rec.startedAt || e.pid !== rec.pid) {
        e = { id: rec.id, startedAt: rec.startedAt, pid: rec.pid, name: rec.name, image: rec.image, lbl: '', oom: e?.oom ?? 0, seen: gen, live: false };
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
        e.lbl = labelsOf(rec, e.cg.paths.id);
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
      live.push(e);
    }
    for (const [id, e] of entries) if (e.seen !== gen) entries.delete(id);
    return live;
  }

  /** Hands each family to `write` as soon as it is rendered, so a scrape never holds the whole exposition. */
  function render(live: Entry[], write: (chunk: string) => void): void {
    const nowSec = now() / 1000;
    const percpu = opts.percpu === true && !!layout && !layout.readV2;
    const family = (name: string, type: string, help: string, body: string): void => {
      if (body) write(`# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${body}`);
    };
    const slot = (name: string, type: string, help: string, s: number, scale = 1): void => {
      let b = '';
      for (const e of live) {
        const x = e.cg!.v[s]!;
        if (x === x) b += `${name}${e.lbl}} ${num(x * scale)}\n`;
      }
      family(name, type, help, b);
    };
    const spec = (name: string, help: string, pick: (e: Entry) => number | undefined): void => {
      let b = '';
      for (const e of live) {
        const x = pick(e);
        if (x !== undefined && x === x) b += `${name}${e.lbl}} ${num(x)}\n`;
      }
      family(name, 'gauge', help, b);
    };

    // CPU
    {
      const name = 'container_cpu_usage_seconds_total';
      let b = '';
      for (const e of live) {
        const cg = e.cg!;
        if (percpu && cg.percpu.length > 0) {
          for (let i = 0; i < cg.percpu.length; i++) {
            const x = cg.percpu[i]!;
            if (x > 0) b += `${name}${e.lbl},cpu="cpu${i < 10 ? '0' : ''}${i}"} ${num(x / 1e9)}\n`;
          }
        } else {
          const x = cg.v[S.CPU_TOTAL_NS]!;
          if (x === x) b += `${name}${e.lbl},cpu="total"} ${num(x / 1e9)}\n`;
        }
      }
      family(name, 'counter', 'Cumulative cpu time consumed in seconds.', b);
    }
    slot('container_cpu_user_seconds_total', 'counter', 'Cumulative user cpu time consumed in seconds.', S.CPU_USER_S);
    slot('container_cpu_system_seconds_total', 'counter', 'Cumulative system cpu time consumed in seconds.', S.CPU_SYSTEM_S);
    slot('container_cpu_cfs_periods_total', 'counter', 'Number of elapsed enforcement period intervals.', S.CFS_PERIODS);
    slot('container_cpu_cfs_throttled_periods_total', 'counter', 'Number of throttled period intervals.', S.CFS_THROTTLED_PERIODS);
    slot('container_cpu_cfs_throttled_seconds_total', 'counter', 'Total time duration the container has been throttled.', S.CFS_THROTTLED_S);

    // Memory
    slot('container_memory_usage_bytes', 'gauge', 'Current memory usage in bytes, including all memory regardless of when it was accessed', S.MEM_USAGE);
    slot('container_memory_working_set_bytes', 'gauge', 'Current working set in bytes.', S.MEM_WORKING_SET);
    slot('container_memory_rss', 'gauge', 'Size of RSS in bytes.', S.MEM_RSS);
    slot('container_memory_cache', 'gauge', 'Number of bytes of page cache memory.', S.MEM_CACHE);
    slot('container_memory_mapped_file', 'gauge', 'Size of memory mapped files in bytes.', S.MEM_MAPPED_FILE);
    slot('container_memory_swap', 'gauge', 'Container swap usage in bytes.', S.MEM_SWAP);
    slot('container_memory_max_usage_bytes', 'gauge', 'Maximum memory usage recorded in bytes', S.MEM_MAX_USAGE);
    slot('container_memory_total_active_file_bytes', 'gauge', 'Current total active file in bytes.', S.ACTIVE_FILE);
    slot('container_memory_total_inactive_file_bytes', 'gauge', 'Current total inactive file in bytes.', S.INACTIVE_FILE);
    slot('container_memory_failcnt', FAILCNT_TYPE, 'Number of memory usage hits limits', S.MEM_FAILCNT);
    {
      const name = 'container_memory_failures_total';
      let b = '';
      for (const e of live) {
        const v = e.cg!.v;
        const pf = v[S.PGFAULT]!;
        const pm = v[S.PGMAJFAULT]!;
        if (pf === pf) b += `${name}${e.lbl},failure_type="pgfault",scope="container"} ${pf}\n${name}${e.lbl},failure_type="pgfault",scope="hierarchy"} ${pf}\n`;
        if (pm === pm) b += `${name}${e.lbl},failure_type="pgmajfault",scope="container"} ${pm}\n${name}${e.lbl},failure_type="pgmajfault",scope="hierarchy"} ${pm}\n`;
      }
      family(name, 'counter', 'Cumulative count of memory allocation failures.', b);
    }
    slot('container_memory_events_high_total', 'counter', 'Number of times the cgroup usage went over memory.high (cgroup v2).', S.EVENTS_HIGH);
    slot('container_memory_events_max_total', 'counter', 'Number of times the cgroup usage was about to go over memory.max (cgroup v2).', S.EVENTS_MAX);
    {
      let b = '';
      for (const e of live) b += `container_oom_events_total${e.lbl}} ${e.oom}\n`;
      family('container_oom_events_total', 'counter', 'Count of out of memory events observed for the container', b);
    }

    // Spec (limits)
    spec('container_spec_cpu_period', 'CPU period of the container.', (e) => e.cg!.spec?.cpuPeriod);
    spec('container_spec_cpu_quota', 'CPU quota of the container.', (e) => (e.cg!.spec && e.cg!.spec.cpuQuota > 0 ? e.cg!.spec.cpuQuota : undefined));
    spec('container_spec_cpu_shares', 'CPU share of the container.', (e) => e.cg!.spec?.cpuShares);
    spec('container_spec_memory_limit_bytes', 'Memory limit for the container.', (e) => e.cg!.spec?.memLimit);
    spec('container_spec_memory_reservation_limit_bytes', 'Memory reservation limit for the container.', (e) => e.cg!.spec?.memReservation);
    spec('container_spec_memory_swap_limit_bytes', 'Memory swap limit for the container.', (e) => e.cg!.spec?.swapLimit);

    // Network
    const NET = [
      ['container_network_receive_bytes_total', 'Cumulative count of bytes received'],
      ['container_network_receive_packets_total', 'Cumulative count of packets received'],
      ['container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving'],
      ['container_network_receive_packets_dropped_total', 'Cumulative count of packets dropped while receiving'],
      ['container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted'],
      ['container_network_transmit_packets_total', 'Cumulative count of packets transmitted'],
      ['container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting'],
      ['container_network_transmit_packets_dropped_total', 'Cumulative count of packets dropped while transmitting'],
    ] as const;
    for (let k = 0; k < 8; k++) {
      const [name, help] = NET[k]!;
      let b = '';
      for (const e of live) for (const ni of e.cg!.net) b += `${name}${e.lbl},interface="${escapeLabelValue(ni.name)}"} ${ni.v[k]}\n`;
      family(name, 'counter', help, b);
    }

    // Block I/O
    const gen = scrapeGen;
    const dev = (major: number, minor: number): string => escapeLabelValue(devices!.name(major, minor, gen));
    const blk = (name: string, help: string, ios: boolean, op: number): void => {
      let b = '';
      for (const e of live) {
        for (const d of e.cg!.blk) {
          const x = (ios ? d.ios : d.bytes)[op]!;
          if (x === x) b += `${name}${e.lbl},device="${dev(d.major, d.minor)}"} ${x}\n`;
        }
      }
      family(name, 'counter', help, b);
    };
    blk('container_fs_reads_bytes_total', 'Cumulative count of bytes read', false, 0);
    blk('container_fs_writes_bytes_total', 'Cumulative count of bytes written', false, 1);
    blk('container_fs_reads_total', 'Cumulative count of reads completed', true, 0);
    blk('container_fs_writes_total', 'Cumulative count of writes completed', true, 1);
    {
      const name = 'container_blkio_device_usage_total';
      let b = '';
      for (const e of live) {
        for (const d of e.cg!.blk) {
          for (let op = 0; op < BLK_OPS.length; op++) {
            const x = d.bytes[op]!;
            if (x === x) b += `${name}${e.lbl},device="${dev(d.major, d.minor)}",major="${d.major}",minor="${d.minor}",operation="${BLK_OPS[op]}"} ${x}\n`;
          }
        }
      }
      family(name, 'counter', 'Blkio Device bytes usage', b);
    }

    // Processes
    slot('container_processes', 'gauge', 'Number of processes running inside the container.', S.PROCESSES);
    slot('container_threads', 'gauge', 'Number of threads running inside the container', S.THREADS);
    spec('container_threads_max', 'Maximum number of threads allowed inside the container, infinity if value is zero', (e) => e.cg!.spec?.threadsMax);

    // Lifecycle
    spec('container_start_time_seconds', 'Start time of the container since unix epoch in seconds.', (e) => e.startedAt);
    {
      let b = '';
      const t = num(nowSec);
      for (const e of live) b += `container_last_seen${e.lbl}} ${t}\n`;
      family('container_last_seen', 'gauge', 'Last time a container was seen by the exporter', b);
    }
  }

  function stream(write: (chunk: string) => void): void {
    const errors = new Map<string, number>();
    try {
      if (ensureLayout(errors)) render(gather(errors), write);
    } catch (err) {
      // Never throw out of a scrape: whatever went wrong is counted and the remaining families are left out.
      errors.set(ErrorCodes.INTERNAL, (errors.get(ErrorCodes.INTERNAL) ?? 0) + 1);
      log?.error(`container collector failed: ${(err as Error).message}`);
    }
    if (opts.stats) for (const [code, n] of errors) opts.stats.countError(COLLECTOR_NAME, code, n);
  }

  return {
    name: COLLECTOR_NAME,
    stream,
    collect(): string {
      let text = '';
      stream((chunk) => { text += chunk; });
      return text;
    },
    invalidate,
    stop(): void {
      opts.state.off?.('container-event', onEvent);
    },
    layout: () => layout,
  };
}

/**
 * cAdvisor types container_memory_failcnt as a counter, but promtool's lint requires counters to end in
 * `_total`; the name is kept (queries and dashboards use it) and the type is declared gauge so that
 * `promtool check metrics` is clean. rate()/increase() work on it unchanged.
 */
const FAILCNT_TYPE = 'gauge';
