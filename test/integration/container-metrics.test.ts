/**
 * The container collector against a private engine: real cgroups (v1 here), the real state model fed by the
 * engine's events, real OOM kills. Values are compared with the cgroup files read directly.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerAccess } from '../../core/docker/access.js';
import { createLogger } from '../../core/log.js';
import { CollectorStats } from '../../core/metrics/collector.js';
import { SwarmState } from '../../core/state/model.js';
import { createContainerCollector, type ContainerCollector } from '../../exporter/collectors/container.js';
import { ensureBusyboxImage, startEngine, waitFor, type PrivateEngine } from '../bed/index.js';
import { find, parseExposition, value, type Sample } from '../support/prom-text.js';

let engine: PrivateEngine;
let image: string;
let state: SwarmState;
let collector: ContainerCollector;
let registry: Registry;

const scrape = (): Sample[] => parseExposition(collector.collect() as string);

async function run(args: string[]): Promise<string> {
  return (await engine.docker(['run', '-d', '--network', 'none', ...args])).stdout.trim();
}

function cgroupFile(ctrl: string, id: string, file: string): string {
  return fs.readFileSync(`/sys/fs/cgroup/${ctrl}${engine.cgroupParent}/${id}/${file}`, 'latin1').trim();
}

beforeAll(async () => {
  engine = await startEngine({ name: 'cmetrics' });
  image = await ensureBusyboxImage(engine);
  const log = createLogger('test');
  state = new SwarmState(new DockerAccess({ host: engine.dockerHost, timeoutMs: 5000, clusterTimeoutMs: 3000 }), log, { reconcileIntervalMs: 2000, clusterRefreshMs: 60_000, watchTasks: false });
  await state.start();
  registry = new Registry();
  collector = createContainerCollector({ state, stats: new CollectorStats(registry), hostRoot: '/', log });
});

afterAll(async () => {
  collector?.stop();
  state?.stop();
  await engine?.stop({ graceful: false });
});

async function seen(name: string): Promise<Sample[]> {
  return waitFor(() => { const s = scrape(); return find(s, 'container_last_seen', { name }).length === 1 && s; }, 20_000, { what: `series of ${name}` });
}

describe('container metrics on a private engine', () => {
  it('reports the exact limits of a container', async () => {
    const id = await run(['--name', 'limited', '--memory', '64m', '--memory-reservation', '32m', '--cpus', '0.5', '--cpu-shares', '512', '--pids-limit', '100', image, 'sleep', '600']);
    const s = await seen('limited');
    const n = { name: 'limited' };
    expect(value(s, 'container_spec_cpu_period', n)).toBe(100000);
    expect(value(s, 'container_spec_cpu_quota', n)).toBe(50000);
    expect(value(s, 'container_spec_cpu_shares', n)).toBe(512);
    expect(value(s, 'container_spec_memory_limit_bytes', n)).toBe(64 * 1024 * 1024);
    expect(value(s, 'container_spec_memory_reservation_limit_bytes', n)).toBe(32 * 1024 * 1024);
    // Docker's default --memory-swap is twice --memory; v1 memsw.limit_in_bytes is memory + swap.
    expect(value(s, 'container_spec_memory_swap_limit_bytes', n)).toBe(Number(cgroupFile('memory', id, 'memory.memsw.limit_in_bytes')));
    expect(value(s, 'container_threads_max', n)).toBe(100);
    expect(value(s, 'container_processes', n)).toBe(1);
    expect(value(s, 'container_threads', n)).toBe(1);
    const rec = state.containers.get(id)!;
    expect(value(s, 'container_start_time_seconds', n)).toBe(rec.startedAt);
    expect(find(s, 'container_last_seen', n)[0]!.labels.id).toBe(`${engine.cgroupParent}/${id}`);
    expect(find(s, 'container_last_seen', n)[0]!.labels.image).toBe(image.startsWith('sha256:') ? rec.image : image);
  });

  it('follows a CPU burner consistently with cpuacct.usage', async () => {
    const id = await run(['--name', 'burner', image, 'sh', '-c', 'while :; do :; done']);
    await seen('burner');
    await new Promise((r) => setTimeout(r, 1500));
    const before = Number(cgroupFile('cpuacct', id, 'cpuacct.usage')) / 1e9;
    const s = scrape();
    const after = Number(cgroupFile('cpuacct', id, 'cpuacct.usage')) / 1e9;
    const v = value(s, 'container_cpu_usage_seconds_total', { name: 'burner', cpu: 'total' })!;
    expect(v).toBeGreaterThanOrEqual(before);
    expect(v).toBeLessThanOrEqual(after);
    expect(v).toBeGreaterThan(0.5);
    const user = value(s, 'container_cpu_user_seconds_total', { name: 'burner' })!;
    const sys = value(s, 'container_cpu_system_seconds_total', { name: 'burner' })!;
    // USER_HZ ticks vs nanoseconds: equal within a few ticks.
    expect(Math.abs(user + sys - v)).toBeLessThan(0.2);
    await engine.docker(['rm', '-f', id]);
  });

  it('raises the working set of a memory filler', async () => {
    await run(['--name', 'idle', image, 'sleep', '600']);
    await run(['--name', 'filler', '--tmpfs', '/fill:size=64m', image, 'sh', '-c', 'dd if=/dev/zero of=/fill/x bs=1M count=40 2>/dev/null; sleep 600']);
    const s = await waitFor(() => {
      const x = scrape();
      return (value(x, 'container_memory_working_set_bytes', { name: 'filler' }) ?? 0) >= 40 * 1024 * 1024 && x;
    }, 20_000, { what: 'working set of the filler' });
    expect(value(s, 'container_memory_working_set_bytes', { name: 'idle' })!).toBeLessThan(8 * 1024 * 1024);
    expect(value(s, 'container_memory_usage_bytes', { name: 'filler' })!).toBeGreaterThanOrEqual(value(s, 'container_memory_working_set_bytes', { name: 'filler' })!);
  });

  it('counts an OOM kill by the memory limit (cgroup oom_kill and engine oom event, not double counted)', async () => {
    // The subshell is OOM-killed; its parent keeps the container running.
    const id = await run(['--name', 'oomer', '--memory', '8m', '--memory-swap', '8m', image, 'sh', '-c', '(x=a; while :; do x=$x$x; done); sleep 600']);
    const s = await waitFor(() => { const x = scrape(); return (value(x, 'container_oom_events_total', { name: 'oomer' }) ?? 0) >= 1 && x; }, 30_000, { what: 'oom event' });
    const oomKill = Number(/oom_kill (\d+)/.exec(cgroupFile('memory', id, 'memory.oom_control'))![1]);
    expect(oomKill).toBeGreaterThanOrEqual(1);
    // Wait for the engine's oom event to be processed too, then the count must still equal the kernel's.
    await new Promise((r) => setTimeout(r, 1500));
    expect(value(scrape(), 'container_oom_events_total', { name: 'oomer' })).toBe(Number(/oom_kill (\d+)/.exec(cgroupFile('memory', id, 'memory.oom_control'))![1]));
    expect(value(s, 'container_oom_events_total', { name: 'idle' })).toBe(0);
  });

  it('drops the series of a stopped container', async () => {
    const id = await run(['--name', 'stopper', image, 'sleep', '600']);
    await seen('stopper');
    await engine.docker(['kill', id]);
    await waitFor(() => find(scrape(), 'container_last_seen', { name: 'stopper' }).length === 0, 20_000, { what: 'series of a stopped container to disappear' });
    const s = scrape();
    expect(s.filter((x) => x.labels.name === 'stopper')).toHaveLength(0);
    expect(find(s, 'container_last_seen', { name: 'limited' })).toHaveLength(1);
  });

  it('passes promtool check metrics and counted no error', async () => {
    const text = collector.collect() as string;
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
    const errors = (await registry.getSingleMetric('swarmwatch_collector_errors_total')!.get()).values;
    // A container stopping between the state update and the read is the only tolerated error.
    for (const e of errors) expect(e.labels.code).toBe('SW_ERR_CGROUP_READ');
  });
});
