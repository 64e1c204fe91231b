import { describe, expect, it } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import { DockerAccess } from '../../core/docker/access.js';
import { createLogger } from '../../core/log.js';
import { SwarmState } from '../../core/state/model.js';
import { cgroupV2WeightOf, cgroupWeightFor, cpuSharesFor, keepRaisingOwnCpuWeight, raiseOwnCpuWeight, type OwnCpuWeightOutcome } from '../../log-shipper/own-cpu-weight.js';
import type { CgroupLayout } from '../../core/cgroup/layout.js';

const v1Layout: CgroupLayout = { mode: 'v1', hostRoot: '/', root: '/sys/fs/cgroup', v1: { cpu: '/sys/fs/cgroup/cpu' }, readV2: false };
const refusingEngine = { updateContainerCpuShares: async () => { throw new Error('(HTTP code 404) No such container: abc'); } };

describe('the CPU weight the shipper gives itself', () => {
  it('is the factor times 1024 cpu.shares on cgroup v1', () => {
    expect(cpuSharesFor(8, false)).toBe(8192);
    expect(cpuSharesFor(2, false)).toBe(2048);
  });

  it('on cgroup v2 is a CpuShares value the engine turns into the factor times the default weight of 100 (not 39, what 1024 becomes)', () => {
    expect(cgroupV2WeightOf(1024)).toBe(39);
    for (let f = 2; f <= 100; f++) expect(cgroupV2WeightOf(cpuSharesFor(f, true)), `factor ${f}`).toBe(100 * f);
  });

  it('written to a cgroup directly: cpu.shares 1024 times the factor on v1, cpu.weight 100 times it on v2 (at most 10000)', () => {
    expect(cgroupWeightFor(8, false)).toEqual({ file: 'cpu.shares', value: 8192 });
    expect(cgroupWeightFor(8, true)).toEqual({ file: 'cpu.weight', value: 800 });
    expect(cgroupWeightFor(100, true)).toEqual({ file: 'cpu.weight', value: 10000 });
  });

  it('is left alone at factor 0 or 1, without asking the engine', async () => {
    let asked = 0;
    const docker = { updateContainerCpuShares: async () => { asked++; } };
    for (const f of [0, 1]) expect((await raiseOwnCpuWeight(f, { docker, selfId: 'a'.repeat(64), layout: () => v1Layout })).set).toBe('none');
    expect(asked).toBe(0);
  });

  it('in a container the engine refuses: an outcome naming the engine\'s answer, not a throw', async () => {
    const outcome = await raiseOwnCpuWeight(8, { docker: refusingEngine, selfId: 'a'.repeat(64), layout: () => v1Layout });
    expect(outcome).toEqual({ set: 'none', why: expect.stringContaining('No such container') });
  });

  it('outside a container, a process in the root cgroup or in one without a CPU controller is left alone, saying why', async () => {
    const root = await raiseOwnCpuWeight(8, { docker: refusingEngine, selfId: undefined, layout: () => v1Layout, readOwnCgroup: () => '4:cpu:/\n3:memory:/\n' });
    expect(root).toEqual({ set: 'none', why: expect.stringContaining('root cgroup') });
    const noCpu = await raiseOwnCpuWeight(8, { docker: refusingEngine, selfId: undefined, layout: () => v1Layout, readOwnCgroup: () => '3:memory:/x\n' });
    expect(noCpu).toEqual({ set: 'none', why: expect.stringContaining('no CPU controller') });
  });

  it('an engine that cannot be reached: a try to repeat once the state model finds it answering, and no listener left once ended', async () => {
    const missing = path.join(os.tmpdir(), `swarmwatch-no-engine-${process.pid}.sock`);
    const docker = new DockerAccess({ host: `unix://${missing}`, timeoutMs: 1000, clusterTimeoutMs: 1000 });
    const state = new SwarmState(docker, createLogger('test'), { reconcileIntervalMs: 60_000, clusterRefreshMs: 60_000, watchTasks: false });
    const seen: { outcome: OwnCpuWeightOutcome; attempt: number }[] = [];
    const end = keepRaisingOwnCpuWeight(8, { docker, selfId: 'a'.repeat(64), layout: () => v1Layout }, (outcome, attempt) => seen.push({ outcome, attempt }), state);
    await waitFor(() => seen.length >= 1);
    expect(seen).toEqual([{ outcome: { set: 'none', why: expect.stringContaining(missing), retry: true }, attempt: 1 }]);
    // No timer of its own: nothing more until the model reports the engine.
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.length).toBe(1);
    expect(state.listenerCount('engine')).toBe(1);
    end();
    expect(state.listenerCount('engine') + state.listenerCount('containers')).toBe(0);
    docker.close();
  });

  it('tries again when the model found the engine answering while a try was still under way', async () => {
    const missing = path.join(os.tmpdir(), `sw-no-engine-${process.pid}-b.sock`);
    const docker = new DockerAccess({ host: `unix://${missing}`, timeoutMs: 1000, clusterTimeoutMs: 1000 });
    const state = new SwarmState(docker, createLogger('test'), { reconcileIntervalMs: 60_000, clusterRefreshMs: 60_000, watchTasks: false });
    const seen: OwnCpuWeightOutcome[] = [];
    const end = keepRaisingOwnCpuWeight(8, { docker, selfId: 'a'.repeat(64), layout: () => v1Layout }, (outcome) => seen.push(outcome), state);
    // The first try is waiting for its connection when the model reports the engine (its own reconciliation got
    // through first): that report is the only one; before, it was dropped and the weight waited for another.
    state.emit('containers');
    await waitFor(() => seen.length >= 2);
    expect(seen.length).toBe(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.length, 'one more try per sign, no loop').toBe(2);
    end();
    docker.close();
  });
});

async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
}
