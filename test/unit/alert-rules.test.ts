import { describe, expect, it } from 'vitest';
import { EventMemory } from '../../alertmanager/rules/event-memory.js';
import { evaluators, type EvalInputs } from '../../alertmanager/rules/evaluate.js';
import { defaultRuleSet } from '../../alertmanager/rules/config.js';
import { builtinRules } from '../../alertmanager/rules/builtin.js';
import { fingerprintOf } from '../../alertmanager/model.js';
import { clusterView, managerNode } from '../fixtures/alerts/fake-state.js';
import { readFileSync } from 'node:fs';
import { fixturePath } from '../fixtures/alerts/fake-state.js';

const rules = defaultRuleSet();
function run(name: string, inp: Partial<EvalInputs>) {
  const full: EvalInputs = { now: Date.now(), engine: { up: true, since: 0 }, containers: [], memory: new EventMemory(), hostname: 'manager1', localNode: managerNode(), ...inp };
  return evaluators[name]!(full, rules.get(name)!);
}

describe('built-in rules on recorded Engine API listings', () => {
  it('every rule has severity, summary, runbook and an evaluator', () => {
    for (const r of builtinRules) {
      expect(['critical', 'warning', 'info']).toContain(r.severity);
      expect(r.summary.length).toBeGreaterThan(10);
      expect(r.runbook.length).toBeGreaterThan(40);
      expect(evaluators[r.name], r.name).toBeTypeOf('function');
    }
    expect(builtinRules.find((r) => r.name === 'SwarmQuorumLost')!.runbook).toContain('--force-new-cluster');
  });

  it('a healthy 3+1 swarm raises nothing', () => {
    const cluster = clusterView('nodes-healthy.json');
    for (const r of builtinRules) expect(run(r.name, { cluster }) ?? [], r.name).toEqual([]);
  });

  it('one manager unreachable (0.3-0.8 s after its death): manager-unreachable + quorum-at-risk, not quorum-lost', () => {
    const cluster = clusterView('nodes-manager2-unreachable.json');
    const mu = run('SwarmManagerUnreachable', { cluster })!;
    expect(mu).toHaveLength(1);
    expect(mu[0]!.labels).toEqual({ node_id: 'node2id0000000000000000000', hostname: 'manager2', role: 'manager' });
    expect(run('SwarmQuorumAtRisk', { cluster })).toHaveLength(1);
    expect(run('SwarmQuorumLost', { cluster })).toEqual([]);
    // Still "ready": node state follows 12-15 s later.
    expect(run('SwarmNodeDown', { cluster })).toEqual([]);
  });

  it('node down with heartbeat failure, drained worker as info', () => {
    const cluster = clusterView('nodes-manager2-down-worker-drained.json');
    const down = run('SwarmNodeDown', { cluster })!;
    expect(down).toHaveLength(1);
    expect(down[0]!.description).toContain('heartbeat failure');
    const un = run('SwarmNodeUnavailable', { cluster })!;
    expect(un[0]!.labels).toMatchObject({ hostname: 'worker1', availability: 'drain' });
  });

  it('quorum lost is recognised from reachability while /nodes still answers (before "no leader")', () => {
    const cluster = clusterView('nodes-two-managers-unreachable.json');
    const lost = run('SwarmQuorumLost', { cluster })!;
    expect(lost).toHaveLength(1);
    expect(lost[0]!.description).toContain('1 of 3 managers are reachable, quorum needs 2');
    expect(lost[0]!.annotations?.reason).toBe('reachability');
  });

  it('quorum lost from the API answer "no leader" even on stale listings', () => {
    const message = readFileSync(fixturePath('no-leader-error.txt'), 'utf8').trim();
    const cluster = clusterView('nodes-healthy.json', { error: { kind: 'no_leader', code: 'SW_ERR_SWARM_NO_LEADER', message } });
    const lost = run('SwarmQuorumLost', { cluster })!;
    expect(lost[0]!.description).toContain('does not have a leader');
    expect(lost[0]!.annotations?.reason).toBe('no_leader');
    const timeout = clusterView('nodes-healthy.json', { error: { kind: 'timeout', code: 'SW_ERR_DOCKER_TIMEOUT', message: 'GET /nodes did not answer within 3000 ms' } });
    expect(run('SwarmQuorumLost', { cluster: timeout })).toHaveLength(1);
  });

  it('workers and non-swarm engines judge no cluster rule (no data, not "resolved")', () => {
    const worker = { ...managerNode(), swarm: { ...managerNode().swarm, controlAvailable: false, isManager: false } };
    expect(run('SwarmQuorumLost', { localNode: worker, cluster: undefined })).toBeUndefined();
    expect(run('SwarmManagerUnreachable', { localNode: worker })).toBeUndefined();
  });

  it('service degraded names the scheduler reason; jobs are ignored; rollback is an update failure', () => {
    const cluster = clusterView('nodes-healthy.json', { services: 'services-degraded.json', tasks: 'tasks-web-failing.json' });
    const deg = run('SwarmServiceDegraded', { cluster })!;
    expect(deg).toHaveLength(1);
    expect(deg[0]!.labels).toEqual({ service_name: 'shop_web', stack: 'shop' });
    expect(deg[0]!.description).toContain('runs 1 of 3');
    expect(deg[0]!.description).toContain('no suitable node');
    const upd = run('SwarmServiceUpdateFailed', { cluster })!;
    expect(upd[0]!.labels.service_name).toBe('shop_db');
    expect(upd[0]!.annotations?.update_state).toBe('rollback_completed');
  });

  it('task failures carry exit code and error text, grouped per service, and expire after the hold', () => {
    const memory = new EventMemory();
    const now = Date.now();
    const failure = { taskId: 't1', serviceId: 's', serviceName: 'shop_web', stack: 'shop', nodeId: 'n4', nodeHostname: 'worker1', state: 'failed' as const, exitCode: 3, err: 'task: non-zero exit (3)', message: 'started', timestamp: now };
    memory.recordTaskFailure(failure, now);
    memory.recordTaskFailure({ ...failure, taskId: 't2' }, now + 10);
    const cluster = clusterView('nodes-healthy.json');
    const tf = run('SwarmTaskFailed', { cluster, memory })!;
    expect(tf).toHaveLength(1);
    expect(tf[0]!.labels).toEqual({ service_name: 'shop_web', stack: 'shop', state: 'failed', exit_code: '3' });
    expect(tf[0]!.description).toContain('2 task(s)');
    expect(tf[0]!.annotations?.error).toBe('task: non-zero exit (3)');
    memory.prune(now + 400_000, { taskFailure: 300_000, oom: 1, deathWindow: 1, leader: 1 });
    expect(run('SwarmTaskFailed', { cluster, memory })).toEqual([]);
  });

  it('leader change is announced once per change', () => {
    const memory = new EventMemory();
    const a = clusterView('nodes-healthy.json');
    memory.observeCluster(a, 1);
    expect(run('SwarmLeaderChanged', { cluster: a, memory })).toEqual([]);
    const b = clusterView('nodes-healthy.json');
    b.nodes[0]!.leader = false;
    b.nodes[1]!.leader = true;
    memory.observeCluster(b, 2);
    const lc = run('SwarmLeaderChanged', { cluster: b, memory })!;
    expect(lc[0]!.description).toContain('from manager1 to manager2');
  });

  it('container events: restart loop after N deaths in the window, OOM kill, unhealthy, engine unreachable', () => {
    const memory = new EventMemory();
    const die = (t: number) => memory.recordContainerEvent({ Type: 'container', Action: 'die', Actor: { ID: 'abc', Attributes: { name: `web.1.x${t}`, exitCode: '1', 'com.docker.swarm.service.name': 'web' } }, time: 0, timeNano: 0 }, t, 300_000);
    const now = Date.now();
    die(now - 3000); die(now - 2000);
    expect(run('ContainerRestartLoop', { memory, now })).toEqual([]);
    die(now - 1000);
    const loop = run('ContainerRestartLoop', { memory, now })!;
    expect(loop[0]!.labels).toMatchObject({ hostname: 'manager1', service_name: 'web' });
    memory.recordContainerEvent({ Type: 'container', Action: 'oom', Actor: { ID: 'def', Attributes: { name: 'hog' } }, time: 0, timeNano: 0 }, now, 300_000);
    expect(run('ContainerOomKilled', { memory })![0]!.labels).toMatchObject({ container: 'hog' });
    const sick = { id: 'c', name: 'api', image: 'img', health: 'unhealthy', state: 'running', swarm: {} } as never;
    expect(run('ContainerUnhealthy', { containers: [sick] })).toHaveLength(1);
    expect(run('EngineUnreachable', { engine: { up: false, since: 0 } })).toHaveLength(1);
  });

  it('fingerprints follow Prometheus LabelSet.Fingerprint (FNV-1a 64)', () => {
    expect(fingerprintOf({})).toBe('cbf29ce484222325');
    expect(fingerprintOf({ a: 'b', c: 'd' })).toBe(fingerprintOf({ c: 'd', a: 'b' }));
    expect(fingerprintOf({ a: 'b' })).not.toBe(fingerprintOf({ a: 'c' }));
  });
});
