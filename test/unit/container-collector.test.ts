import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createContainerCollector, escapeLabelValue, sanitizeLabelName } from '../../exporter/collectors/container.js';
import type { ContainerRecord } from '../../core/state/types.js';
import type { RawEvent } from '../../core/docker/types.js';
import { parseExposition, find, value } from '../support/prom-text.js';

const FIX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/cgroup');
const V1 = path.join(FIX, 'v1');
const NOW = 1_800_000_000_000;

interface Recorded { id: string; name: string; pid: number; image: string; startedAt: string; labels: Record<string, string> }

function record(r: Partial<ContainerRecord> & { id: string }): ContainerRecord {
  return {
    name: r.id.slice(0, 8), image: 'bb:1', imageId: '', command: '', createdAt: 0, createdIso: '', state: 'running', pid: 0,
    tty: false, labels: {}, env: [], health: 'none', oomKilled: false, exitCode: 0, restartCount: 0, cgroupParent: '', logDriver: 'json-file', autoRemove: false, swarm: {},
    ...r,
  };
}

class FakeState extends EventEmitter {
  containers = new Map<string, ContainerRecord>();
  localNode = { engine: { cgroupDriver: 'cgroupfs' } };
}

function recordedState(): FakeState {
  const s = new FakeState();
  const recs = JSON.parse(fs.readFileSync(path.join(V1, 'containers.json'), 'utf8')) as Recorded[];
  for (const r of recs) {
    s.containers.set(r.id, record({ id: r.id, name: r.name.slice(1), pid: r.pid, image: r.image, labels: r.labels, startedAt: Date.parse(r.startedAt) / 1000, cgroupParent: '/swrec' }));
  }
  return s;
}

function errorsCounter() {
  const counts: Record<string, number> = {};
  return { counts, stats: { countError: (collector: string, code: string, n = 1) => { counts[`${collector}/${code}`] = (counts[`${collector}/${code}`] ?? 0) + n; } } };
}

const LIMITED = '192d8b5da3f35e6ee96b07728c654768c7df60271b603bb4c5940364cb29d693';
const OOM = 'f9259199bca742186e324ed19f74c5e5da6035d3c99da6fcb06ad26873f6811a';

describe('container collector on recorded v1 cgroups', () => {
  it('emits cAdvisor families with exact recorded values', () => {
    const state = recordedState();
    const c = createContainerCollector({ state, hostRoot: V1, now: () => NOW });
    const text = c.collect() as string;
    const s = parseExposition(text);
    const lim = { name: 'rec-limited' };
    expect(value(s, 'container_cpu_usage_seconds_total', { ...lim, cpu: 'total' })).toBe(0.130705382);
    expect(value(s, 'container_cpu_cfs_throttled_seconds_total', lim)).toBe(0.050159294);
    expect(value(s, 'container_memory_usage_bytes', lim)).toBe(4898816);
    expect(value(s, 'container_memory_working_set_bytes', { name: 'rec-mem' })).toBe(909312);
    expect(value(s, 'container_spec_cpu_quota', lim)).toBe(50000);
    expect(value(s, 'container_spec_cpu_quota', { name: 'rec-plain' })).toBeUndefined();
    expect(value(s, 'container_spec_memory_limit_bytes', { name: 'rec-plain' })).toBe(0);
    expect(value(s, 'container_spec_memory_reservation_limit_bytes', lim)).toBe(33554432);
    expect(value(s, 'container_threads_max', lim)).toBe(100);
    expect(value(s, 'container_oom_events_total', { name: 'rec-oom' })).toBe(1);
    expect(value(s, 'container_network_receive_bytes_total', { name: 'rec-oom', interface: 'eth0' })).toBe(1306);
    expect(find(s, 'container_memory_failures_total', lim).map((x) => [x.labels.failure_type, x.labels.scope, x.value])).toEqual([
      ['pgfault', 'container', 6165], ['pgfault', 'hierarchy', 6165], ['pgmajfault', 'container', 1], ['pgmajfault', 'hierarchy', 1],
    ]);
    expect(value(s, 'container_last_seen', lim)).toBe(NOW / 1000);
    expect(value(s, 'container_start_time_seconds', lim)).toBe(Date.parse('2026-11-22T06:44:14.786016059Z') / 1000);
    // One exact line, label order included.
    expect(text).toContain(`container_memory_rss{container_label_com_docker_stack_namespace="st",container_label_com_docker_swarm_node_id="",container_label_com_docker_swarm_service_id="",container_label_com_docker_swarm_service_name="web",container_label_com_docker_swarm_task_id="",container_label_com_docker_swarm_task_name="",id="/swrec/${LIMITED}",image="bb:1",name="rec-limited"} 4231168\n`);
  });

  it('gives every series the same label names, HELP/TYPE once per family, no timestamps', () => {
    const c = createContainerCollector({ state: recordedState(), hostRoot: V1, extraLabels: ['com.example.team', 'com.docker.swarm.task.id'], now: () => NOW });
    const text = c.collect() as string;
    const s = parseExposition(text);
    const base = ['container_label_com_docker_stack_namespace', 'container_label_com_docker_swarm_node_id', 'container_label_com_docker_swarm_service_id',
      'container_label_com_docker_swarm_service_name', 'container_label_com_docker_swarm_task_id', 'container_label_com_docker_swarm_task_name',
      'container_label_com_example_team', 'id', 'image', 'name'];
    for (const x of s) {
      const names = Object.keys(x.labels).filter((k) => !['cpu', 'interface', 'device', 'major', 'minor', 'operation', 'failure_type', 'scope'].includes(k)).sort();
      expect(names).toEqual(base);
    }
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE '));
    expect(new Set(types).size).toBe(types.length);
    for (const l of text.split('\n').filter((x) => x && !x.startsWith('#'))) expect(l).toMatch(/} [^ ]+$/);
  });

  it('passes promtool check metrics', () => {
    const probe = spawnSync('promtool', ['--version']);
    if (probe.error) return; // promtool not installed
    const c = createContainerCollector({ state: recordedState(), hostRoot: V1, percpu: true });
    const r = spawnSync('promtool', ['check', 'metrics'], { input: c.collect() as string });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it('splits cpu per CPU with percpu on (v1), skipping zero CPUs like cAdvisor', () => {
    const c = createContainerCollector({ state: recordedState(), hostRoot: V1, percpu: true });
    const s = parseExposition(c.collect() as string);
    expect(find(s, 'container_cpu_usage_seconds_total', { name: 'rec-plain' }).map((x) => [x.labels.cpu, x.value])).toEqual([['cpu00', 26.934915122], ['cpu01', 17.755138367]]);
  });

  it('drops stopped containers at the next scrape and counts no error for them', () => {
    const state = recordedState();
    const { counts, stats } = errorsCounter();
    const c = createContainerCollector({ state, stats, hostRoot: V1 });
    expect(find(parseExposition(c.collect() as string), 'container_last_seen')).toHaveLength(4);
    state.containers.get(LIMITED)!.state = 'exited';
    const s = parseExposition(c.collect() as string);
    expect(find(s, 'container_last_seen')).toHaveLength(3);
    expect(find(s, 'container_memory_usage_bytes', { name: 'rec-limited' })).toHaveLength(0);
    expect(counts).toEqual({});
  });

  it('counts the larger of engine oom events and the cgroup oom_kill, never going down', () => {
    const state = recordedState();
    const c = createContainerCollector({ state, hostRoot: V1 });
    const oomEvent = (id: string): RawEvent => ({ Type: 'container', Action: 'oom', Actor: { ID: id }, time: 0, timeNano: 0 });
    expect(value(parseExposition(c.collect() as string), 'container_oom_events_total', { name: 'rec-oom' })).toBe(1);
    state.emit('container-event', oomEvent(OOM)); // same OOM the cgroup already counted
    expect(value(parseExposition(c.collect() as string), 'container_oom_events_total', { name: 'rec-oom' })).toBe(1);
    state.emit('container-event', oomEvent(OOM));
    state.emit('container-event', oomEvent(LIMITED));
    const s = parseExposition(c.collect() as string);
    expect(value(s, 'container_oom_events_total', { name: 'rec-oom' })).toBe(2);
    expect(value(s, 'container_oom_events_total', { name: 'rec-limited' })).toBe(1);
    c.stop();
    expect(state.listenerCount('container-event')).toBe(0);
  });

  it('skips a vanished or unreadable container, counts the errors, never throws', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swcc-'));
    try {
      fs.cpSync(V1, root, { recursive: true });
      const state = recordedState();
      const { counts, stats } = errorsCounter();
      const c = createContainerCollector({ state, stats, hostRoot: root });
      expect(find(parseExposition(c.collect() as string), 'container_last_seen')).toHaveLength(4);
      // The container disappears between the state update and the read.
      for (const ctrl of ['cpu', 'cpuacct', 'memory', 'blkio', 'pids']) fs.rmSync(path.join(root, 'sys/fs/cgroup', ctrl, 'swrec', LIMITED), { recursive: true });
      fs.writeFileSync(path.join(root, 'sys/fs/cgroup/memory/swrec', OOM, 'memory.stat'), 'total_rss garbage\n');
      const s = parseExposition(c.collect() as string);
      expect(find(s, 'container_last_seen').map((x) => x.labels.name).sort()).toEqual(['rec-mem', 'rec-oom', 'rec-plain']);
      expect(find(s, 'container_memory_rss', { name: 'rec-oom' })).toHaveLength(0);
      expect(value(s, 'container_memory_usage_bytes', { name: 'rec-oom' })).toBeGreaterThan(0);
      expect(counts).toEqual({ 'containers/SW_ERR_CGROUP_READ': 1, 'containers/SW_ERR_CGROUP_PARSE': 1 });
      // A host root without any cgroup hierarchy: empty output, counted.
      const none = errorsCounter();
      expect(createContainerCollector({ state, stats: none.stats, hostRoot: path.join(root, 'nope') }).collect()).toBe('');
      expect(none.counts).toEqual({ 'containers/SW_ERR_CGROUP_READ': 1 });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('re-reads limits after invalidate() and on an update event', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swcc-'));
    try {
      fs.cpSync(V1, root, { recursive: true });
      const state = recordedState();
      const c = createContainerCollector({ state, hostRoot: root });
      expect(value(parseExposition(c.collect() as string), 'container_spec_cpu_shares', { name: 'rec-limited' })).toBe(512);
      fs.writeFileSync(path.join(root, 'sys/fs/cgroup/cpu/swrec', LIMITED, 'cpu.shares'), '256\n');
      expect(value(parseExposition(c.collect() as string), 'container_spec_cpu_shares', { name: 'rec-limited' })).toBe(512); // cached
      state.emit('container-event', { Type: 'container', Action: 'update', Actor: { ID: LIMITED }, time: 0, timeNano: 0 });
      expect(value(parseExposition(c.collect() as string), 'container_spec_cpu_shares', { name: 'rec-limited' })).toBe(256);
      fs.writeFileSync(path.join(root, 'sys/fs/cgroup/cpu/swrec', LIMITED, 'cpu.shares'), '128\n');
      c.invalidate(LIMITED);
      expect(value(parseExposition(c.collect() as string), 'container_spec_cpu_shares', { name: 'rec-limited' })).toBe(128);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('escapes label values and sanitizes label names', () => {
    expect(sanitizeLabelName('com.docker.swarm.service.name')).toBe('container_label_com_docker_swarm_service_name');
    expect(sanitizeLabelName('a-b/c')).toBe('container_label_a_b_c');
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const state = recordedState();
    state.containers.get(LIMITED)!.labels = { 'com.docker.swarm.service.name': 'we"ird\\\n' };
    const s = parseExposition(createContainerCollector({ state, hostRoot: V1 }).collect() as string);
    expect(find(s, 'container_memory_usage_bytes', { name: 'rec-limited' })).toHaveLength(1);
  });
});

describe('container collector on v2 fixtures', () => {
  it('emits v2 values incl. io.stat devices and memory events', () => {
    const V2 = path.join(FIX, 'v2');
    const state = new FakeState();
    const a = 'aaaa000000000000000000000000000000000000000000000000000000000001';
    const b = 'bbbb000000000000000000000000000000000000000000000000000000000002';
    state.containers.set(a, record({ id: a, name: 'svc.1.x', pid: 4242, startedAt: 1_700_000_000.5 }));
    state.containers.set(b, record({ id: b, name: 'plain', pid: 0 }));
    const text = createContainerCollector({ state, hostRoot: V2 }).collect() as string;
    const s = parseExposition(text);
    const n = { name: 'svc.1.x' };
    expect(value(s, 'container_cpu_usage_seconds_total', { ...n, cpu: 'total' })).toBe(2.874561);
    expect(value(s, 'container_memory_events_max_total', n)).toBe(5);
    expect(value(s, 'container_oom_events_total', n)).toBe(2);
    expect(value(s, 'container_fs_reads_bytes_total', { ...n, device: '/dev/sda' })).toBe(1459200);
    expect(value(s, 'container_fs_writes_total', { ...n, device: '/dev/sda' })).toBe(353);
    expect(value(s, 'container_blkio_device_usage_total', { ...n, device: '/dev/dm-0', major: '253', minor: '0', operation: 'Read' })).toBe(4096);
    expect(find(s, 'container_blkio_device_usage_total', n)).toHaveLength(4);
    expect(value(s, 'container_network_transmit_packets_dropped_total', { ...n, interface: 'eth0' })).toBe(4);
    expect(find(s, 'container_network_receive_bytes_total', { name: 'plain' })).toHaveLength(0);
    expect(value(s, 'container_spec_memory_limit_bytes', { name: 'plain' })).toBe(0);
    expect(find(s, 'container_start_time_seconds', { name: 'plain' })).toHaveLength(0);
    expect(value(s, 'container_memory_usage_bytes', { name: 'plain' })).toBe(1000000);
    expect(text).toContain(`id="/system.slice/docker-${a}.scope"`);
    expect(text).toContain(`id="/docker/${b}"`);
  });
});
