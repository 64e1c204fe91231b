import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifyDockerError } from '../../core/docker/classify.js';
import type { RawEngineInfo, RawNode, RawService, RawTask } from '../../core/docker/types.js';
import { localNodeFrom, nodeFromRaw, quorumOf, serviceFromRaw, taskFromRaw } from '../../core/state/convert.js';

// Real Engine API 1.41 answers recorded from a private 3+1 swarm by scripts/record-api-fixtures.mjs.
const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../fixtures/api/${name}`, import.meta.url), 'utf8')) as T;

describe('swarm state conversion on recorded API answers', () => {
  it('computes quorum 2 and margin 1 for 3 reachable managers', () => {
    const nodes = fixture<RawNode[]>('nodes-healthy.json').map(nodeFromRaw);
    expect(nodes).toHaveLength(4);
    expect(quorumOf(nodes)).toEqual({ managers: 3, reachable: 3, quorum: 2, margin: 1 });
    expect(nodes.filter((n) => n.leader)).toHaveLength(1);
    expect(nodes.find((n) => n.role === 'worker')?.reachability).toBeUndefined();
  });

  it('drops the margin to 0 when one manager is unreachable', () => {
    const nodes = fixture<RawNode[]>('nodes-one-manager-unreachable.json').map(nodeFromRaw);
    expect(quorumOf(nodes)).toEqual({ managers: 3, reachable: 2, quorum: 2, margin: 0 });
    expect(nodes.filter((n) => n.reachability === 'unreachable')).toHaveLength(1);
  });

  it('reads the quorum-less /info: still ControlAvailable, with the error text', () => {
    const local = localNodeFrom(fixture<RawEngineInfo>('info-leader-no-quorum.json'), undefined, false);
    expect(local.swarm.controlAvailable).toBe(true);
    expect(local.swarm.isManager).toBe(true);
    expect(local.swarm.managers).toBeUndefined();
    expect(local.swarm.error).toMatch(/does not have a leader/);
    const worker = localNodeFrom(fixture<RawEngineInfo>('info-worker.json'), undefined, false);
    expect(worker.swarm.isManager).toBe(false);
    expect(worker.swarm.localState).toBe('active');
  });

  it('classifies the recorded 500 "no leader" and 503 worker answers', () => {
    const body500 = fixture<{ message: string }>('nodes-no-leader-500.json');
    const e = classifyDockerError(Object.assign(new Error('x'), { statusCode: 500, json: body500 }), 'sock', 'GET /nodes');
    expect(e.code).toBe('SW_ERR_SWARM_NO_LEADER');
    const body503 = fixture<{ message: string }>('nodes-worker-503.json');
    expect(classifyDockerError(Object.assign(new Error('x'), { statusCode: 503, json: body503 }), 'sock', 'GET /nodes').code).toBe('SW_ERR_SWARM_NOT_MANAGER');
  });

  it('reads service status counts and task failures with exit codes', () => {
    const services = fixture<RawService[]>('services-status.json').map(serviceFromRaw);
    const hungry = services.find((s) => s.name === 'hungry')!;
    expect(hungry).toMatchObject({ mode: 'replicated', desired: 2, running: 0 });
    expect(services.find((s) => s.name === 'web')).toMatchObject({ desired: 2, running: 2 });
    const tasks = fixture<RawTask[]>('tasks.json').map(taskFromRaw);
    const failed = tasks.filter((t) => t.state === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((t) => t.exitCode === 3 && t.err === 'task: non-zero exit (3)')).toBe(true);
    expect(tasks.filter((t) => t.state === 'pending').every((t) => /no suitable node/.test(t.err))).toBe(true);
  });
});
