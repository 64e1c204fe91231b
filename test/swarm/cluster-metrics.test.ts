import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachSwarm, BUSYBOX_TAG, type SwarmNode, type TestSwarm } from '../bed/index.js';
import { startAgent, type AgentProcess } from '../support/agent.js';
import { find, value, type Sample } from '../support/prom-text.js';
import { until } from '../support/until.js';

// One fault sequence on the shared 3-manager + 1-worker swarm; each step leaves the swarm as the next expects,
// and the last step returns it to healthy for the scenario files that follow.
let swarm: TestSwarm;
let leader: SwarmNode;
let agent: AgentProcess;


const reach = (s: Sample[], hostname: string) => find(s, 'swarmwatch_cluster_manager_reachability', { hostname }).find((x) => x.value === 1)?.labels.reachability;

beforeAll(async () => {
  swarm = attachSwarm();
  leader = await swarm.leader(60_000);
  agent = await startAgent('exporter', { dockerHost: leader.dockerHost, args: ['--cluster.refresh-interval=2s'] });
});

afterAll(async () => {
  await agent?.stop();
  for (const n of swarm?.nodes ?? []) if (!n.isRunning()) await n.start(90_000).catch(() => undefined);
  await leader?.docker(['service', 'rm', 'sw-failer', 'sw-hungry'], { check: false });
});

describe('cluster metrics on the real 3+1 swarm', () => {
  it('shows a healthy cluster: 3 reachable managers, margin 1, a leader, 4 ready nodes', async () => {
    const s = await until('a full view', async () => { const x = await agent.scrape(); return value(x, 'swarmwatch_cluster_managers_reachable') === 3 && x; }, 30_000);
    expect(value(s, 'swarmwatch_cluster_managers')).toBe(3);
    expect(value(s, 'swarmwatch_cluster_quorum_size')).toBe(2);
    expect(value(s, 'swarmwatch_cluster_quorum_margin')).toBe(1);
    expect(value(s, 'swarmwatch_cluster_leader_present')).toBe(1);
    expect(find(s, 'swarmwatch_cluster_node_state', { state: 'ready' }).filter((x) => x.value === 1)).toHaveLength(4);
    expect(find(s, 'swarmwatch_cluster_node_info', { role: 'worker' })).toHaveLength(1);
    expect(value(s, 'swarmwatch_cluster_manager_leader', { hostname: leader.hostname })).toBe(1);
    expect(value(s, 'swarmwatch_node_swarm_leader')).toBe(1);
  });

  it('exports no cluster families from a worker (an unlabelled 0 there would read as "no fault tolerance")', async () => {
    const worker = swarm.workers[0]!;
    const w = await startAgent('exporter', { dockerHost: worker.dockerHost });
    try {
      const s = await until('the worker sees its swarm state', async () => { const x = await w.scrape(); return value(x, 'swarmwatch_node_swarm_manager') === 0 && find(x, 'swarmwatch_node_swarm_info').length === 1 && x; }, 30_000);
      expect(s.filter((x) => x.name.startsWith('swarmwatch_cluster_') || x.name.startsWith('swarmwatch_service_') || x.name === 'swarmwatch_task_failures_total')).toEqual([]);
      expect(value(s, 'swarmwatch_node_swarm_local_state', { state: 'active' })).toBe(1);
    } finally {
      await w.stop();
    }
  });

  it('counts a failing service\'s task failures with their exit code, and keeps the error text readable', async () => {
    await leader.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', 'sw-failer', '--restart-delay', '1s', BUSYBOX_TAG, 'sh', '-c', 'exit 3']);
    const n = await until('a counted failure', async () => {
      const v = find(await agent.scrape(), 'swarmwatch_task_failures_total', { service_name: 'sw-failer', exit_code: '3', state: 'failed' })[0]?.value;
      return (v ?? 0) >= 2 && v;
    }, 60_000);
    expect(n).toBeGreaterThanOrEqual(2);
    const body = (await (await fetch(`${agent.url}/api/v1/task-failures`)).json()) as { failures: { serviceName: string; err: string; exitCode: number }[] };
    const f = body.failures.find((x) => x.serviceName === 'sw-failer')!;
    expect(f.err).toBe('task: non-zero exit (3)');
    expect(f.exitCode).toBe(3);
    await leader.docker(['service', 'rm', 'sw-failer']);
  });

  it('shows desired > running for a service that cannot be scheduled', async () => {
    await leader.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', 'sw-hungry', '--replicas', '2', '--reserve-memory', '900G', BUSYBOX_TAG, 'sleep', '600']);
    // The manager records the service (desired 2) a moment before its tasks reach "pending" (new → pending).
    const s = await until('desired 2, both tasks pending', async () => {
      const x = await agent.scrape();
      return value(x, 'swarmwatch_service_desired_tasks', { service_name: 'sw-hungry' }) === 2 && value(x, 'swarmwatch_service_tasks', { service_name: 'sw-hungry', state: 'pending' }) === 2 && x;
    }, 30_000);
    expect(value(s, 'swarmwatch_service_running_tasks', { service_name: 'sw-hungry' })).toBe(0);
    await leader.docker(['service', 'rm', 'sw-hungry']);
  });

  it('follows a killed manager, then lost quorum, then "no leader", then recovery', async () => {
    const [first, second] = swarm.managers.filter((m) => m.nodeId !== leader.nodeId);
    await first!.kill();
    // The API shows the dead manager as unreachable within a second; the next scrape must say the same.
    await swarm.waitFor(async () => (await leader.api<{ Description: { Hostname: string }; ManagerStatus?: { Reachability: string } }[]>('GET', '/nodes')).body
      .find((n) => n.Description.Hostname === first!.hostname)?.ManagerStatus?.Reachability === 'unreachable', 20_000, 'API shows unreachable');
    let s = await agent.scrape();
    expect(reach(s, first!.hostname)).toBe('unreachable');
    expect(value(s, 'swarmwatch_cluster_quorum_margin')).toBe(0);

    await second!.kill();
    s = await until('margin below zero', async () => { const x = await agent.scrape(); return (value(x, 'swarmwatch_cluster_quorum_margin') ?? 0) < 0 && x; }, 20_000);
    expect(value(s, 'swarmwatch_cluster_managers_reachable')).toBe(1);

    // ≈28–30 s after quorum loss the manager API answers "no leader"; the gauge must read 0 from then on.
    await swarm.waitFor(async () => {
      const r = await leader.api<{ message?: string }>('GET', '/nodes', undefined, 25_000);
      return r.status === 500 && /does not have a leader/.test(r.body.message ?? '');
    }, 90_000, 'API answers "no leader"');
    s = await agent.scrape();
    expect(value(s, 'swarmwatch_cluster_leader_present')).toBe(0);
    expect(value(s, 'swarmwatch_cluster_api_errors_total', { kind: 'no_leader' })).toBeGreaterThan(0);

    await Promise.all([first!.start(90_000), second!.start(90_000)]);
    s = await until('healthy again', async () => {
      const x = await agent.scrape();
      return value(x, 'swarmwatch_cluster_leader_present') === 1 && value(x, 'swarmwatch_cluster_quorum_margin') === 1 && x;
    }, 150_000);
    expect(value(s, 'swarmwatch_cluster_managers_reachable')).toBe(3);
  });
});
