/**
 * The test bed's own swarm test. It starts a second, private 3+1 swarm (its own
 * tag and the first free subnet, so it can run next to the shared one from global-swarm.ts),
 * checks it, crashes and restarts a manager through an attachSwarm() handle (the
 * path other workers use), and checks the teardown leaves nothing behind.
 */
import * as fs from 'node:fs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { SWARM_PROVIDE_KEY } from '../bed/global-swarm.js';
import { attachSwarm, randomSwarmTag, startSwarm, type SwarmNodeInfo, type TestSwarm } from '../bed/index.js';

const TAG = randomSwarmTag();

/** Reachability of `nodeId` as the leader reports it. */
async function reachability(swarm: TestSwarm, nodeId: string): Promise<string | undefined> {
  const nodes: SwarmNodeInfo[] = await swarm.listNodes();
  return nodes.find((n) => n.ID === nodeId)?.ManagerStatus?.Reachability;
}

describe('test bed: 3 managers + 1 worker swarm', { timeout: 300_000 }, () => {
  let swarm: TestSwarm | undefined;

  afterAll(async () => {
    await swarm?.stop();
  });

  it('forms a healthy swarm', async () => {
    const t0 = Date.now();
    // No subnet given: the first free 10.213.n (the shared swarm may hold 10.213.0).
    swarm = await startSwarm({ managers: 3, workers: 1, tag: TAG });
    console.log(`swarm up: ${Date.now() - t0} ms`);

    const nodes = await swarm.listNodes();
    expect(nodes).toHaveLength(4);
    expect(nodes.every((n) => n.Status.State === 'ready')).toBe(true);
    const managers = nodes.filter((n) => n.Spec.Role === 'manager');
    expect(managers).toHaveLength(3);
    expect(managers.every((n) => n.ManagerStatus?.Reachability === 'reachable')).toBe(true);
    expect(new Set(nodes.map((n) => n.Description?.Hostname))).toEqual(new Set(['manager1', 'manager2', 'manager3', 'worker1']));

    // Each node is its own engine (own engine ID thanks to deprecated-key-path) with its own metrics endpoint.
    const ids = await Promise.all(swarm.nodes.map(async (n) => (await n.api<{ ID: string }>('GET', '/info')).body.ID));
    expect(new Set(ids).size).toBe(4);
    const metrics = await (await fetch(swarm.nodes[0]!.metricsUrl)).text();
    expect(metrics).toContain('swarm_manager_nodes');
  });

  it('runs a service task', async () => {
    const s = swarm!;
    const leader = await s.leader();
    await leader.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', 'bedsvc', '--replicas', '2', 'swarmwatch-test/busybox:1', 'sleep', '3600']);
    const running = await s.waitFor(async () => {
      const r = await leader.api<Array<{ Status: { State: string } }>>('GET', `/tasks?filters=${encodeURIComponent('{"service":["bedsvc"]}')}`);
      return r.body.filter((t) => t.Status.State === 'running').length >= 2 && r.body;
    }, 60_000, 'two running bedsvc tasks');
    expect(running.length).toBeGreaterThanOrEqual(2);
  });

  it('shows a killed manager unreachable, and reachable again after restart (via an attached handle)', async () => {
    const own = swarm!;
    const attached = attachSwarm(own.descriptionFile);
    const leader = await attached.leader();
    const victim = attached.managers.find((m) => m.name !== leader.name)!;

    const t0 = Date.now();
    await victim.kill();
    expect(victim.isRunning()).toBe(false);
    await attached.waitFor(async () => (await reachability(attached, victim.nodeId)) === 'unreachable', 15_000, `${victim.name} unreachable`);
    console.log(`kill -> unreachable: ${((Date.now() - t0) / 1000).toFixed(2)} s`);

    const t1 = Date.now();
    await victim.start();
    const pingMs = Date.now() - t1;
    await attached.waitFor(async () => (await reachability(attached, victim.nodeId)) === 'reachable', 120_000, `${victim.name} reachable again`);
    console.log(`restart -> API up: ${(pingMs / 1000).toFixed(2)} s, -> reachable: ${((Date.now() - t1) / 1000).toFixed(2)} s`);
    if (Date.now() - t1 > 10_000) console.log(`slow restart of ${victim.name}; its dockerd log:\n${victim.engine.logTail(60)}`);
    expect(victim.isRunning()).toBe(true);
  });

  it('tears down completely', async () => {
    const s = swarm!;
    const t0 = Date.now();
    await s.stop();
    console.log(`swarm teardown: ${Date.now() - t0} ms`);
    swarm = undefined;

    const ours = (name: string): boolean => name.startsWith(`swtest-${TAG}`);
    expect(fs.readdirSync('/run/netns').filter(ours)).toEqual([]);
    expect(fs.readdirSync('/sys/class/net').filter(ours)).toEqual([]);
    expect(fs.readdirSync('/sys/fs/cgroup/memory').filter((c) => c.startsWith(`swarmwatch-test-${TAG}-`))).toEqual([]);
    expect(fs.existsSync(s.description.baseDir)).toBe(false);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(s.description.baseDir);
  });
});

// Runs when the swarm project's globalSetup (test/bed/global-swarm.ts) is active.
describe.runIf(process.env.SWARMWATCH_TEST_SWARM)('test bed: the shared swarm', { timeout: 120_000 }, () => {
  it('is reachable from a worker through attachSwarm()', async () => {
    expect(inject(SWARM_PROVIDE_KEY)).toBe(process.env.SWARMWATCH_TEST_SWARM);
    const shared = attachSwarm();
    expect(shared.tag).not.toBe(TAG);
    const nodes = await shared.listNodes();
    expect(nodes).toHaveLength(shared.nodes.length);
    expect(nodes.every((n) => n.Status.State === 'ready')).toBe(true);
    expect(shared.nodes.every((n) => n.isRunning())).toBe(true);
  });
});
