/**
 * The deployment files are valid for the tools that read them: promtool checks the Prometheus
 * config and the host rules and runs their unit tests; the docker CLI loads the stack file with
 * its compose schema (`docker stack config`, CLI >= 20.10 with that command) and the result holds
 * the promises docs/deploy.md makes (global services, read-only host mounts, secrets as files,
 * every dashboard provisioned).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DASHBOARDS } from '../../grafana-dashboards/src/index.js';

const ROOT = path.resolve(__dirname, '../..');
const DEPLOY = path.join(ROOT, 'deploy');

function run(cmd: string, args: string[], cwd = DEPLOY) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, stdout: r.stdout ?? '' };
}

/** A docker CLI that has `stack config` (Debian's 20.10 CLI does not; a newer one on PATH may). */
function dockerWithStackConfig(): string | undefined {
  for (const cli of ['docker', '/usr/local/bin/docker', '/usr/bin/docker']) {
    const r = spawnSync(cli, ['stack', 'config', '--help'], { encoding: 'utf8' });
    if (r.status === 0 && /--compose-file/.test(r.stdout + r.stderr)) return cli;
  }
  return undefined;
}

describe('Prometheus files', () => {
  it('promtool check config accepts deploy/prometheus/prometheus.yml', () => {
    const r = run('promtool', ['check', 'config', '--syntax-only', 'prometheus/prometheus.yml']);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
  });

  it('promtool check rules accepts the host rules', () => {
    const files = fs.readdirSync(path.join(DEPLOY, 'prometheus/rules')).filter((f) => /^host.*\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    const r = run('promtool', ['check', 'rules', ...files.map((f) => `prometheus/rules/${f}`)]);
    expect(r.code, r.out).toBe(0);
  });

  it('promtool test rules passes the host rule tests', () => {
    const tests = fs.readdirSync(path.join(DEPLOY, 'prometheus/rules/tests')).filter((f) => /^host.*\.ya?ml$/.test(f));
    expect(tests.length).toBeGreaterThan(0);
    const r = run('promtool', ['test', 'rules', ...tests.map((f) => `prometheus/rules/tests/${f}`)]);
    expect(r.out).not.toMatch(/FAILED/);
    expect(r.code, r.out).toBe(0);
  });

  it('every job labels targets with swarm_node and swarm_node_id (the dashboards filter on them)', () => {
    const cfg = parse(fs.readFileSync(path.join(DEPLOY, 'prometheus/prometheus.yml'), 'utf8'), { merge: true }) as { scrape_configs: Array<{ job_name: string; relabel_configs?: Array<{ target_label?: string }> }> };
    for (const job of cfg.scrape_configs.filter((j) => j.job_name !== 'prometheus')) {
      const targets = (job.relabel_configs ?? []).map((r) => r.target_label);
      expect(targets, job.job_name).toContain('swarm_node');
      expect(targets, job.job_name).toContain('swarm_node_id');
    }
  });
});

describe('stack file', () => {
  const cli = dockerWithStackConfig();

  it.skipIf(!cli)('loads with docker stack config and keeps its promises', () => {
    const r = run(cli!, ['stack', 'config', '-c', 'stack.yml']);
    expect(r.code, r.out).toBe(0);
    const stack = parse(r.stdout) as { services: Record<string, any>; configs: Record<string, { file: string }>; secrets: Record<string, { file: string }> };
    const { exporter, alertmanager, prometheus, grafana } = stack.services;
    expect(exporter.deploy.mode).toBe('global');
    expect(stack.services['node-exporter'].deploy.mode).toBe('global');
    expect(stack.services['log-shipper'].deploy.mode).toBe('global');
    const mounts = Object.fromEntries(exporter.volumes.map((v: any) => [v.source, v]));
    for (const src of ['/var/run/docker.sock', '/sys', '/proc']) expect(mounts[src]?.read_only, src).toBe(true);
    expect(exporter.environment.SWARMWATCH_EXPORTER_HOST_ROOT).toBe('/rootfs');
    // read-mode file: the engine's containers dir, read-only, where shipper.docker-root says.
    const shipper = stack.services['log-shipper'];
    const logs = shipper.volumes.find((v: any) => v.target === '/var/lib/docker/containers');
    expect(logs).toMatchObject({ type: 'bind', source: '/var/lib/docker/containers', read_only: true });
    expect(shipper.environment.SWARMWATCH_SHIPPER_DOCKER_ROOT).toBe('/var/lib/docker');
    // The catch-up after a GELF outage stays well under the service's 256M limit only with a capped heap.
    expect(shipper.environment.NODE_OPTIONS).toBe('--max-old-space-size=128');
    expect(alertmanager.deploy.mode).toBe('global');
    expect(alertmanager.deploy.placement.constraints).toContain('node.role == manager');
    for (const v of ['SMTP_PASSWORD', 'WEBHOOK_HMAC_SECRET', 'API_TOKEN']) {
      expect(alertmanager.environment[`SWARMWATCH_ALERTMANAGER_${v}_FILE`]).toMatch(/^\/run\/secrets\//);
    }
    expect(prometheus.deploy.placement.constraints).toContain('node.role == manager');
    const provisioned = grafana.configs.map((c: any) => path.basename(c.target));
    for (const d of DASHBOARDS) expect(provisioned).toContain(d.file);
    // Config files must exist (secrets are created by deploy.sh).
    for (const [name, c] of Object.entries(stack.configs)) expect(fs.existsSync(path.resolve(DEPLOY, c.file)), name).toBe(true);
  });
});

describe('node flags', () => {
  it('the image runs node with the same V8 flags as npm start (the benchmarks measure those)', () => {
    const started = /exec node (.*?) dist\/cli\/main\.js/.exec(fs.readFileSync(path.join(ROOT, 'scripts/start.sh'), 'utf8'))?.[1]?.split(/\s+/);
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(fs.readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8'))?.[1];
    expect(started, 'scripts/start.sh runs node with flags').toBeDefined();
    expect(entry, 'the Dockerfile has an exec-form ENTRYPOINT').toBeDefined();
    const argv = JSON.parse(entry!) as string[];
    expect(argv.slice(1, -1)).toEqual(started);
  });
});
