/**
 * The test bed's own test: a private engine starts, runs busybox containers in
 * its cgroup parent, gives containers a real interface, and leaves nothing behind.
 */
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureBusyboxImage, isAlive, startEngine, type PrivateEngine } from '../bed/index.js';

const MEMORY_CGROUP = '/sys/fs/cgroup/memory';

describe('test bed: private engine', { timeout: 180_000 }, () => {
  let engine: PrivateEngine | undefined;

  afterAll(async () => {
    await engine?.stop();
  });

  it('starts, runs containers in its cgroup parent, and cleans up completely', async () => {
    const t0 = Date.now();
    engine = await startEngine({ name: 'bedtest' });
    const startMs = Date.now() - t0;
    console.log(`engine start: ${startMs} ms`);

    const info = await engine.api<{ CgroupDriver: string; Name: string }>('GET', '/info');
    expect(info.status).toBe(200);
    expect(info.body.CgroupDriver).toBe('cgroupfs');

    const imageId = await ensureBusyboxImage(engine);
    expect(imageId).toMatch(/^sha256:[0-9a-f]{64}$/);

    const isolated = await engine.docker(['run', '--rm', '--network', 'none', 'swarmwatch-test/busybox:1', 'sh', '-c', 'echo hello; ls /sys/class/net']);
    expect(isolated.stdout).toContain('hello');
    expect(isolated.stdout.split('\n').filter(Boolean).sort()).toEqual(['hello', 'lo']);

    // The default bridge gives containers a non-loopback interface.
    const bridged = await engine.docker(['run', '--rm', 'swarmwatch-test/busybox:1', 'cat', '/proc/net/dev']);
    expect(bridged.stdout).toMatch(/eth0:/);

    // So does a user-defined network on its own private /24.
    const net = await engine.createNetwork('bednet');
    const onNet = await engine.docker(['run', '--rm', '--network', net.name, 'swarmwatch-test/busybox:1', 'ip', '-4', 'addr', 'show', 'eth0']);
    expect(onNet.stdout).toContain(net.subnet.replace(/\.0\/24$/, '.'));

    const id = (await engine.docker(['run', '-d', '--network', 'none', 'swarmwatch-test/busybox:1', 'sleep', '600'])).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const cgroupDir = `${MEMORY_CGROUP}${engine.cgroupParent}/${id}`;
    expect(fs.existsSync(`${cgroupDir}/memory.usage_in_bytes`)).toBe(true);
    const procs = fs.readFileSync(`${cgroupDir}/cgroup.procs`, 'utf8').trim().split('\n');
    expect(procs.length).toBeGreaterThan(0);

    const { baseDir } = engine.description;
    const dockerdPid = engine.pid;
    const links = [...engine.description.links];
    const t1 = Date.now();
    await engine.stop();
    console.log(`engine stop: ${Date.now() - t1} ms`);

    expect(fs.existsSync(baseDir)).toBe(false);
    expect(fs.existsSync(`${MEMORY_CGROUP}${engine.cgroupParent}`)).toBe(false);
    expect(isAlive(dockerdPid)).toBe(false);
    for (const pid of procs) expect(isAlive(Number(pid))).toBe(false);
    for (const link of links) expect(fs.existsSync(`/sys/class/net/${link}`)).toBe(false);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(baseDir);
    engine = undefined;
  });
});
