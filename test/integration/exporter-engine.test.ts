import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBusyboxImage, startEngine, type PrivateEngine } from '../bed/index.js';
import { runCli, startAgent, type AgentProcess } from '../support/agent.js';
import { find, value, type Sample } from '../support/prom-text.js';
import { until } from '../support/until.js';

let engine: PrivateEngine;
let agent: AgentProcess;
let image: string;


beforeAll(async () => {
  engine = await startEngine({ name: 'exp' });
  image = await ensureBusyboxImage(engine);
  agent = await startAgent('exporter', { dockerHost: engine.dockerHost, args: ['--docker.reconcile-interval=2s'] });
});

afterAll(async () => {
  await agent?.stop();
  await engine?.stop({ graceful: false });
});

describe('exporter against a private engine', () => {
  it('reports the engine as up, with its version and cgroup setup', async () => {
    const s = await until('engine up', async () => { const x = await agent.scrape(); return value(x, 'swarmwatch_engine_up') === 1 && x; });
    const info = find(s, 'swarmwatch_engine_info')[0]!;
    const version = (await engine.api<{ Version: string; ApiVersion: string }>('GET', '/version')).body;
    expect(info.labels.version).toBe(version.Version);
    expect(info.labels.api_version).toBe(version.ApiVersion);
    expect(info.labels.cgroup_driver).toBe('cgroupfs');
    expect(info.labels.cgroup_version).toBe('1');
    expect(value(s, 'swarmwatch_node_swarm_local_state', { state: 'inactive' })).toBe(1);
    expect(value(s, 'swarmwatch_node_swarm_manager')).toBe(0);
    // Cluster families belong to managers only.
    expect(s.filter((x) => x.name.startsWith('swarmwatch_cluster_') || x.name.startsWith('swarmwatch_service_'))).toEqual([]);
  });

  it('counts containers by state and unhealthy ones, following engine events', async () => {
    await engine.docker(['run', '-d', '--name', 'idle', '--network', 'none', image, 'sleep', '600']);
    await engine.docker(['run', '-d', '--name', 'sick', '--network', 'none', '--health-cmd', 'false', '--health-interval', '1s', '--health-retries', '1', image, 'sleep', '600']);
    await engine.docker(['create', '--name', 'fresh', '--network', 'none', image, 'true']);
    const s = await until('two running, one created, one unhealthy', async () => {
      const x = await agent.scrape();
      return value(x, 'swarmwatch_engine_containers', { state: 'running' }) === 2
        && value(x, 'swarmwatch_engine_containers', { state: 'created' }) === 1
        && value(x, 'swarmwatch_engine_containers_unhealthy') === 1 && x;
    });
    expect(value(s, 'swarmwatch_engine_containers', { state: 'exited' })).toBe(0);
    await engine.docker(['stop', '-t', '0', 'idle']);
    await until('one exited', async () => value(await agent.scrape(), 'swarmwatch_engine_containers', { state: 'exited' }) === 1);
  });

  it('passes promtool check metrics on a real scrape', async () => {
    const text = await agent.scrapeText();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('keeps answering while the engine is down, says so once, counts it as a collector error at every scrape, and recovers', async () => {
    const engineErrors = (x: Sample[]) => value(x, 'swarmwatch_collector_errors_total', { collector: 'engine', code: 'SW_ERR_DOCKER_UNREACHABLE' }) ?? 0;
    expect(find(await agent.scrape(), 'swarmwatch_collector_errors_total', { collector: 'engine' })).toEqual([]);
    await engine.kill();
    const down = await until('engine_up 0', async () => { const x = await agent.scrape(); return value(x, 'swarmwatch_engine_up') === 0 && x; }, 30_000);
    expect(find(down, 'process_resident_memory_bytes').length).toBe(1);
    await new Promise((r) => setTimeout(r, 3000));
    // The engine families are the last picture the agent had: each scrape says so (the count shows in the next one).
    const before = engineErrors(await agent.scrape());
    const after = engineErrors(await agent.scrape());
    expect(before).toBeGreaterThan(0);
    expect(after).toBe(before + 1);
    const unreachableLines = agent.stderr().split('\n').filter((l) => l.includes('Docker engine unreachable'));
    expect(unreachableLines.length).toBe(1);
    expect(unreachableLines[0]).toMatch(/retrying with backoff/);
    await engine.start();
    await until('engine_up 1 again', async () => value(await agent.scrape(), 'swarmwatch_engine_up') === 1, 40_000);
    const settled = engineErrors(await agent.scrape());
    expect(engineErrors(await agent.scrape())).toBe(settled);
  });
});

describe('bad input around the engine', () => {
  it('answers scrapes and counts a permission error when the socket is not readable', async () => {
    const a = await startAgent('exporter', {
      dockerHost: engine.dockerHost, prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
      args: ['--docker.reconcile-interval=1s'],
    });
    try {
      const s = await until('a counted permission error', async () => {
        const x = await a.scrape();
        return (value(x, 'swarmwatch_engine_errors_total', { code: 'SW_ERR_DOCKER_PERMISSION' }) ?? 0) > 0 && x;
      });
      expect(value(s, 'swarmwatch_engine_up')).toBe(0);
      expect(a.stderr()).toMatch(/Docker engine unreachable at unix:\/\/.*EACCES.*run as root or as a member of the socket's group/);
    } finally {
      await a.stop();
    }
  });
});

describe('swarmwatch CLI', () => {
  it('exits 2 naming the option and the accepted values', async () => {
    const r = await runCli(['exporter', '--log.level=loud']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/log\.level.*accepted values: debug, info, warn, error/);
    const bad = await runCli(['exporter'], { SWARMWATCH_DOCKER_TIMEOUT: 'soon' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/SWARMWATCH_DOCKER_TIMEOUT/);
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"; accepted commands: agent/);
  });

  it('prints --help for every command', async () => {
    for (const cmd of ['agent', 'exporter']) {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/--docker\.host/);
    }
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const a = await startAgent('exporter', { dockerHost: engine.dockerHost });
    expect(await a.stop('SIGTERM')).toBe(0);
  });
});
