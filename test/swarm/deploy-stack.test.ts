/**
 * Proof that the deployment works, on the shared 3-manager + 1-worker swarm of private engines:
 *
 *  - The image builds with deploy/Dockerfile and no registry (deploy/test-support/image.ts: a base made
 *    from this host's node, an offline npm cache, the legacy builder with --network none), or comes
 *    from the cache keyed by its inputs; it is loaded into every node.
 *  - The swarmwatch services of deploy/stack.yml (exporter, log-shipper, alertmanager) deploy with
 *    `docker stack deploy`: the exporter and the shipper run on every node, the alert engine on every
 *    manager. The stack file the test deploys is derived from deploy/stack.yml with only what this bed
 *    forces changed: the engine socket is each node's own private socket (never the host's
 *    /var/run/docker.sock), and the services use the node's host network instead of the overlay network
 *    and published ports (the bed runs without iptables, NAT and IPVS, so neither ingress nor a
 *    container's route to the host exists). Mounts of /sys and /proc, user, environment, secrets,
 *    volumes, modes and placement are the file's own.
 *  - Inside a container the exporter reads the host's cgroups through the read-only mounts and reports
 *    exactly what the exporter run on the host reports for the same container.
 *  - The shipper in a container ships a container's line to a GELF receiver on the host.
 *  - The FULL stack file, deployed by deploy/deploy.sh (the documented one command) with the Debian 20.10
 *    CLI, is accepted by the engine: configs, secrets, mounts, networks, deploy keys. Its images are
 *    absent (third-party images cannot be pulled here; the swarmwatch image name is made absent on
 *    purpose so no task ever mounts the host's engine socket), so nothing of it runs: it is validated,
 *    its services' specs are inspected, and it is removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ensureSwarmwatchImage, ROOT, type BuiltImage } from '../../deploy/test-support/image.js';
import { detectLayout } from '../../core/cgroup/layout.js';
import { cpuSharesFor } from '../../log-shipper/own-cpu-weight.js';
import { attachSwarm, BUSYBOX_TAG, DOCKER_CLI, type SwarmNode, type TestSwarm } from '../bed/index.js';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import { freePort, startAgent, type AgentProcess } from '../support/agent.js';
import { parseExposition, type Sample } from '../support/prom-text.js';
import { until } from '../support/until.js';

const STACK = 'swd';
const FULL = 'swfull';
const DEPLOY = path.join(ROOT, 'deploy');
const SWARMWATCH_SERVICES = ['exporter', 'log-shipper', 'alertmanager'];
const MARKER = `deploy-probe-${randomBytes(4).toString('hex')}`;

let swarm: TestSwarm;
let leader: SwarmNode;
let worker: SwarmNode;
let image: BuiltImage;
let work = '';
let receiver: GelfReceiver | undefined;
let hostExporter: AgentProcess | undefined;
const timings: Record<string, number> = {};
const createdSecrets: string[] = [];


/** The docker CLI the bed uses (Debian's 20.10), against `node`, with extra environment (stack variables). */
function cli(node: SwarmNode, args: string[], env: Record<string, string> = {}, cmd = DOCKER_CLI): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(cmd, cmd === DOCKER_CLI ? ['-H', node.dockerHost, ...args] : args, {
      cwd: ROOT,
      env: { PATH: `${path.join(work, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: process.env.HOME ?? '/root', DOCKER_CONFIG: path.join(work, 'docker-config'), DOCKER_HOST: node.dockerHost, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

interface TaskRow { ID: string; Name: string; Node: string; DesiredState: string; CurrentState: string; Error: string }

async function tasks(service: string): Promise<TaskRow[]> {
  const r = await leader.docker(['service', 'ps', '--no-trunc', '--format', '{{json .}}', service], { check: false });
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as TaskRow) : [];
}

/** IDs of the stack's containers on `node`, running or not. */
async function stackContainers(node: SwarmNode): Promise<string[]> {
  return (await node.docker(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${STACK}`], { check: false })).stdout.split('\n').filter(Boolean);
}

/**
 * What a task stuck in "starting" needs explained: each of the stack's containers on `node` with its healthcheck
 * probes (exit code, output) and the last lines it printed. Swarm stops a container whose probes fail; the agent
 * exits 0 on that SIGTERM, so `service ps` shows only "Complete".
 */
async function healthOfStackContainers(node: SwarmNode): Promise<string> {
  const ids = await stackContainers(node);
  const out = await Promise.all(ids.map(async (id) => {
    const state = (await node.docker(['inspect', '--format', '{{.Name}} {{.State.Status}} exit={{.State.ExitCode}} started={{.State.StartedAt}} health={{json .State.Health}}', id], { check: false })).stdout.trim();
    const logs = await node.docker(['logs', '--tail', '5', id], { check: false });
    return `${node.hostname} ${state}\n  logs: ${(logs.stdout + logs.stderr).trim().split('\n').join('\n  logs: ')}`;
  }));
  return out.join('\n');
}

/** The healthcheck probes the engine of `node` ran in the stack's containers so far: exit code and duration. */
async function healthProbes(node: SwarmNode): Promise<{ exitCode: number; seconds: number }[]> {
  const logs = await Promise.all((await stackContainers(node)).map(async (id) => {
    const r = await node.docker(['inspect', '--format', '{{json .State.Health}}', id], { check: false });
    const health = r.code === 0 ? JSON.parse(r.stdout) as { Log?: { Start: string; End: string; ExitCode: number }[] } | null : null;
    return (health?.Log ?? []).map((l) => ({ exitCode: l.ExitCode, seconds: (Date.parse(l.End) - Date.parse(l.Start)) / 1000 }));
  }));
  return logs.flat();
}

/** Hostnames where `service` has a running task. */
async function runningOn(service: string): Promise<string[]> {
  return (await tasks(service)).filter((t) => t.DesiredState === 'Running' && t.CurrentState.startsWith('Running')).map((t) => t.Node).sort();
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return parseExposition(await res.text());
}

/** The swarmwatch services of deploy/stack.yml, changed only where the bed forces it (see the header). */
function derivedStack(socketDir: string, secretsDir: string): string {
  const full = parse(fs.readFileSync(path.join(DEPLOY, 'stack.yml'), 'utf8'), { merge: true }) as Record<string, any>;
  const services: Record<string, any> = {};
  const volumes = new Set<string>();
  const secrets = new Set<string>();
  for (const name of SWARMWATCH_SERVICES) {
    const s = structuredClone(full.services[name]);
    expect(s, `deploy/stack.yml has no service ${name}`).toBeDefined();
    s.volumes = (s.volumes as any[]).map((v) => {
      if (v.type === 'volume') volumes.add(v.source);
      // Each node's own engine socket, through a symlink named after the node ({{.Node.Hostname}} is expanded by Swarm).
      if (v.source === '/var/run/docker.sock') return { ...v, source: `${socketDir}/{{.Node.Hostname}}.sock` };
      // Each node's own containers dir (its data-root is not /var/lib/docker), for the shipper's read-mode file.
      if (v.target === '/var/lib/docker/containers') return { ...v, source: `${socketDir}/{{.Node.Hostname}}.containers` };
      return v;
    });
    for (const sec of s.secrets ?? []) secrets.add(typeof sec === 'string' ? sec : sec.source);
    delete s.ports;
    s.networks = ['hostnet'];
    services[name] = s;
  }
  return stringify({
    version: full.version,
    services,
    networks: { hostnet: { external: true, name: 'host' } },
    volumes: Object.fromEntries([...volumes].map((v) => [v, full.volumes[v] ?? {}])),
    secrets: Object.fromEntries([...secrets].map((s) => {
      const file = path.join(secretsDir, s);
      // One newline = empty (swarmwatch strips it); Swarm refuses 0-byte secrets.
      fs.writeFileSync(file, s === 'swarmwatch_api_token' ? randomBytes(12).toString('hex') : '\n');
      return [s, { file }];
    })),
  });
}

beforeAll(async () => {
  const t0 = Date.now();
  swarm = attachSwarm();
  leader = await swarm.leader(60_000);
  worker = swarm.workers[0] ?? swarm.nodes[swarm.nodes.length - 1]!;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'swarmwatch-deploy-'));
  for (const d of ['bin', 'docker-config', 'sockets', 'secrets']) fs.mkdirSync(path.join(work, d));
  // deploy.sh calls `docker`: make it the bed's CLI (Debian 20.10, what CI has), not a newer one on PATH.
  fs.symlinkSync(DOCKER_CLI, path.join(work, 'bin', 'docker'));
  for (const n of swarm.nodes) {
    fs.symlinkSync(n.socketPath, path.join(work, 'sockets', `${n.hostname}.sock`));
    fs.symlinkSync(path.join(n.engine.dataRoot, 'containers'), path.join(work, 'sockets', `${n.hostname}.containers`));
  }

  // The image: built on the first manager (or taken from the cache) and loaded into every node, one image ID.
  image = await ensureSwarmwatchImage(swarm.nodes.map((n) => n.engine));
  if (!image.cached) timings['image build + save (s)'] = image.buildSeconds;
  timings[image.cached ? 'image load from cache into 4 nodes (s)' : 'image load into the other nodes (s)'] = image.loadSeconds;
  for (const n of swarm.nodes) {
    const id = (await n.docker(['image', 'inspect', '--format', '{{.Id}}', image.tag])).stdout.trim();
    expect(id, n.hostname).toBe(image.id);
  }

  receiver = await startGelfReceiver({ proto: 'tcp', host: swarm.hostIp });
  const stackFile = path.join(work, 'swarmwatch-services.yml');
  fs.writeFileSync(stackFile, derivedStack(path.join(work, 'sockets'), path.join(work, 'secrets')));
  const t2 = Date.now();
  const r = await cli(leader, ['stack', 'deploy', '--resolve-image', 'never', '-c', stackFile, STACK], {
    SWARMWATCH_IMAGE: image.tag,
    GELF_DESTINATION: `tcp://${swarm.hostIp}:${receiver.port}`,
  });
  expect(r.code, r.out).toBe(0);
  // A probe container on the worker: a CPU and memory limit, a fixed amount of CPU burnt, then idle; one marker line.
  await leader.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', 'swd-probe', '--constraint', `node.hostname==${worker.hostname}`,
    '--limit-memory', '48m', '--limit-cpu', '0.5', BUSYBOX_TAG,
    'sh', '-c', `trap exit TERM; i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo ${MARKER}; sleep 3600 & wait`]);
  const managers = swarm.managers.map((n) => n.hostname).sort();
  const all = swarm.nodes.map((n) => n.hostname).sort();
  // The image's healthcheck probes first 30 s after a start (engine 20.10 has no start interval) and every 30 s
  // after: a task is "starting" until a probe passed, and on a loaded machine the first probe can fail.
  await until('every swarmwatch task running', async () => {
    const [e, s, a] = await Promise.all(SWARMWATCH_SERVICES.map((x) => runningOn(`${STACK}_${x}`)));
    return JSON.stringify(e) === JSON.stringify(all) && JSON.stringify(s) === JSON.stringify(all) && JSON.stringify(a) === JSON.stringify(managers);
  }, 150_000).catch(async (err) => {
    const detail = (await Promise.all(SWARMWATCH_SERVICES.map((x) => tasks(`${STACK}_${x}`)))).flat().map((t) => `${t.Name}@${t.Node}: ${t.CurrentState} ${t.Error}`).join('\n');
    throw new Error(`${(err as Error).message}\n${detail}\n${(await Promise.all(swarm.nodes.map(healthOfStackContainers))).join('\n')}`);
  });
  timings['stack deploy until every task runs (s)'] = (Date.now() - t2) / 1000;
  const probes = (await Promise.all(swarm.nodes.map(healthProbes))).flat();
  timings['healthcheck probes failed until every task runs'] = probes.filter((x) => x.exitCode !== 0).length;
  timings['healthcheck probes run'] = probes.length;
  timings['longest healthcheck probe (s)'] = Math.max(0, ...probes.map((x) => x.seconds));
  timings['beforeAll total (s)'] = (Date.now() - t0) / 1000;
}, 300_000);

afterAll(async () => {
  await hostExporter?.stop();
  await receiver?.stop();
  if (leader) {
    await leader.docker(['service', 'rm', 'swd-probe'], { check: false });
    await cli(leader, ['stack', 'rm', STACK]);
    await cli(leader, ['stack', 'rm', FULL]);
    // Leave the shared swarm as the next file expects it: no containers and no volumes of these stacks.
    const leftovers = async (n: SwarmNode) => (await n.docker(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${STACK}`], { check: false })).stdout.trim()
      + (await n.docker(['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=swd-probe'], { check: false })).stdout.trim();
    await until('the stacks\' containers gone', async () => (await Promise.all(swarm.nodes.map(leftovers))).every((x) => x === ''), 30_000).catch((err) => console.warn(`[deploy-stack] ${(err as Error).message}`));
    await Promise.all(swarm.nodes.map((n) => n.docker(['volume', 'rm', `${STACK}_shipper-state`, `${STACK}_alert-state`], { check: false })));
  }
  for (const f of createdSecrets) fs.rmSync(f, { force: true });
  if (work) fs.rmSync(work, { recursive: true, force: true });
  console.log(`[deploy-stack] image ${image?.tag} ${((image?.sizeBytes ?? 0) / 1e6).toFixed(1)} MB; ${JSON.stringify(timings)}`);
}, 120_000);

describe('the swarmwatch image', () => {
  it('runs as uid 1000 by default, has its healthcheck and entrypoint', async () => {
    const cfg = JSON.parse((await leader.docker(['image', 'inspect', '--format', '{{json .Config}}', image.tag])).stdout) as { User: string; Entrypoint: string[]; Cmd: string[]; Healthcheck?: { Test: string[] } };
    expect(cfg.User).toBe('1000:1000');
    expect(cfg.Entrypoint).toEqual(['node', '--max-semi-space-size=1', '--single-threaded', '/app/dist/cli/main.js']);
    expect(cfg.Cmd).toEqual(['agent']);
    expect(cfg.Healthcheck?.Test.join(' ')).toMatch(/-\/healthy/);
    const r = await leader.docker(['run', '--rm', '--network', 'none', image.tag, '--help']);
    for (const c of ['agent', 'exporter', 'log-shipper', 'alertmanager']) expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\s`, 'm'));
    // Production dependencies only: no compiler, no test runner in the image.
    const ls = await leader.docker(['run', '--rm', '--network', 'none', '--entrypoint', 'ls', image.tag, '/app/node_modules']);
    expect(ls.stdout).toMatch(/^prom-client$/m);
    expect(ls.stdout).not.toMatch(/^(typescript|vitest)$/m);
  });
});

describe('the swarmwatch services of deploy/stack.yml on the 3+1 swarm', () => {
  it('run where the file says: exporter and shipper on every node, the alert engine on every manager, all healthy', async () => {
    expect(await runningOn(`${STACK}_exporter`)).toEqual(swarm.nodes.map((n) => n.hostname).sort());
    expect(await runningOn(`${STACK}_log-shipper`)).toEqual(swarm.nodes.map((n) => n.hostname).sort());
    expect(await runningOn(`${STACK}_alertmanager`)).toEqual(swarm.managers.map((n) => n.hostname).sort());
    // Host network: each node's services answer on the node's address.
    for (const n of swarm.nodes) {
      for (const port of [9338, 9339, ...(n.role === 'manager' ? [9340] : [])]) {
        await until(`${n.hostname}:${port} healthy`, async () => (await fetch(`http://${n.ip}:${port}/-/healthy`, { signal: AbortSignal.timeout(3_000) })).ok, 30_000);
      }
    }
  });

  it('the exporter in a container reads the host cgroups and reports what the exporter on the host reports', async () => {
    hostExporter = await startAgent('exporter', { dockerHost: worker.dockerHost, args: [`--node.hostname=${worker.hostname}`] });
    const families = ['container_spec_memory_limit_bytes', 'container_spec_cpu_quota', 'container_spec_cpu_period', 'container_start_time_seconds', 'container_cpu_usage_seconds_total', 'container_memory_usage_bytes'];
    const probe = (s: Sample[]) => s.filter((x) => families.includes(x.name) && x.labels.container_label_com_docker_swarm_service_name === 'swd-probe');
    const key = (x: Sample) => `${x.name}${JSON.stringify(Object.entries(x.labels).sort())}`;
    const inContainer = `http://${worker.ip}:9338/metrics`;
    // The probe has burnt its CPU and idles: wait until its series are there and its CPU counter stopped moving.
    await until('the probe idle in both views', async () => {
      const a = probe(await scrape(inContainer));
      const b = probe(await scrape(`${hostExporter!.url}/metrics`));
      return a.length >= families.length && a.find((x) => x.name === 'container_cpu_usage_seconds_total')?.value === b.find((x) => x.name === 'container_cpu_usage_seconds_total')?.value;
    }, 45_000);
    const a = probe(await scrape(inContainer));
    const b = probe(await scrape(`${hostExporter.url}/metrics`));
    expect(a.map(key).sort()).toEqual(b.map(key).sort());
    for (const x of a) {
      const y = b.find((z) => key(z) === key(x))!;
      if (x.name === 'container_memory_usage_bytes') expect(Math.abs(x.value - y.value), x.name).toBeLessThan(256 * 1024); // live value
      else expect(x.value, x.name).toBe(y.value);
    }
    expect(a.find((x) => x.name === 'container_spec_memory_limit_bytes')?.value).toBe(48 * 1024 * 1024);
    expect(a.find((x) => x.name === 'container_spec_cpu_quota')?.value).toBe(50_000);
    expect(a.find((x) => x.name === 'container_cpu_usage_seconds_total')!.value).toBeGreaterThan(0);
    // And the exporter sees every container of its node, not just its own: the swarmwatch tasks themselves.
    const services = new Set((await scrape(inContainer)).filter((x) => x.name === 'container_start_time_seconds').map((x) => x.labels.container_label_com_docker_swarm_service_name));
    for (const s of ['swd-probe', `${STACK}_exporter`, `${STACK}_log-shipper`]) expect(services, s).toContain(s);
  });

  it('the shipper in a container ships a container\'s line to the GELF receiver on the host', async () => {
    const msg = await until('the probe line at the receiver', async () => receiver!.messages().find((m) => m.short_message === MARKER), 45_000);
    expect(msg.host).toBe(worker.hostname);
    expect(JSON.stringify(msg)).toMatch(/swd-probe/);
    // Never its own output (shipper.ship-self is false): it logs at start, and reads every log from its beginning.
    const own = receiver!.messages().filter((m) => String(m._container_name).startsWith(`${STACK}_log-shipper.`));
    expect(own.map((m) => m.short_message)).toEqual([]);
    // It locked its state dir (flock is in the image) and is the only shipper on it.
    const logs = await leader.docker(['service', 'logs', '--raw', `${STACK}_log-shipper`], { timeoutMs: 30_000 });
    expect(logs.stdout + logs.stderr).toMatch(/shipping container logs to/);
    expect(logs.stdout + logs.stderr).not.toMatch(/cannot lock the state dir|another log shipper is using the state dir/);
    // It gave its own container 8x a container's CPU weight (shipper.cpu-weight), through the engine of its node.
    expect(logs.stdout + logs.stderr).toMatch(/CPU weight of this container raised to 8x/);
    for (const n of swarm.nodes) {
      const id = (await n.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${STACK}_log-shipper`])).stdout.trim();
      expect(id, n.hostname).toMatch(/^[0-9a-f]{12}$/);
      // 0 until it is set (a container created without --cpu-shares).
      const shares = await until(`${n.hostname}: the shipper's CpuShares set`, async () => {
        const v = (await n.docker(['inspect', '--format', '{{.HostConfig.CpuShares}}', id])).stdout.trim();
        return v !== '0' ? v : undefined;
      }, 30_000);
      expect(shares, n.hostname).toBe(String(cpuSharesFor(8, detectLayout('/').mode === 'v2')));
    }
  });
});

describe('the full deploy/stack.yml, deployed by deploy/deploy.sh', () => {
  it('is accepted by the engine and keeps its promises (modes, read-only host mounts, secrets, configs, placement)', async () => {
    // deploy.sh creates the missing secret files under deploy/secrets/ (git-ignored); remove the ones this test made.
    const secretsDir = path.join(DEPLOY, 'secrets');
    const before = new Set(fs.existsSync(secretsDir) ? fs.readdirSync(secretsDir) : []);
    const mode = fs.existsSync(secretsDir) ? fs.statSync(secretsDir).mode & 0o777 : undefined;
    const r = await cli(leader, [path.join(DEPLOY, 'deploy.sh'), FULL], {
      SWARMWATCH_RESOLVE_IMAGE: 'never',
      // Absent on purpose: no swarmwatch task of this stack may start (it would mount the host's engine socket).
      SWARMWATCH_IMAGE: 'swarmwatch-test/absent:never',
    }, 'sh');
    for (const f of fs.readdirSync(secretsDir)) if (!before.has(f)) createdSecrets.push(path.join(secretsDir, f));
    if (mode !== undefined) fs.chmodSync(secretsDir, mode); // deploy.sh makes it 0700; leave the working tree as it was
    expect(r.code, r.out).toBe(0);

    const names = ['exporter', 'log-shipper', 'alertmanager', 'node-exporter', 'prometheus', 'grafana'];
    const specs: Record<string, any> = {};
    for (const n of names) specs[n] = JSON.parse((await leader.docker(['service', 'inspect', '--format', '{{json .Spec}}', `${FULL}_${n}`])).stdout);
    for (const n of ['exporter', 'log-shipper', 'alertmanager', 'node-exporter']) expect(specs[n].Mode.Global, n).toBeDefined();
    expect(specs.prometheus.Mode.Replicated.Replicas).toBe(1);
    expect(specs.alertmanager.TaskTemplate.Placement.Constraints).toContain('node.role == manager');
    expect(specs.prometheus.TaskTemplate.Placement.Constraints).toContain('node.role == manager');
    const mounts = Object.fromEntries((specs.exporter.TaskTemplate.ContainerSpec.Mounts as any[]).map((m) => [m.Source, m]));
    for (const src of ['/var/run/docker.sock', '/sys', '/proc']) expect(mounts[src]?.ReadOnly, src).toBe(true);
    expect(mounts['/sys'].Target).toBe('/rootfs/sys');
    expect(specs.exporter.TaskTemplate.ContainerSpec.Env).toContain('SWARMWATCH_EXPORTER_HOST_ROOT=/rootfs');
    const shipperMounts = specs['log-shipper'].TaskTemplate.ContainerSpec.Mounts as any[];
    expect(shipperMounts.find((m) => m.Target === '/var/lib/docker/containers')).toMatchObject({ Source: '/var/lib/docker/containers', ReadOnly: true });
    expect(specs['log-shipper'].TaskTemplate.ContainerSpec.Env).toContain('SWARMWATCH_SHIPPER_DOCKER_ROOT=/var/lib/docker');
    expect(specs.exporter.EndpointSpec.Ports).toEqual([expect.objectContaining({ TargetPort: 9338, PublishedPort: 9338, PublishMode: 'host' })]);
    const secretTargets = (specs.alertmanager.TaskTemplate.ContainerSpec.Secrets as any[]).map((s) => `/run/secrets/${s.File.Name}`);
    for (const v of ['SMTP_PASSWORD', 'WEBHOOK_HMAC_SECRET', 'API_TOKEN']) {
      const env = (specs.alertmanager.TaskTemplate.ContainerSpec.Env as string[]).find((e) => e.startsWith(`SWARMWATCH_ALERTMANAGER_${v}_FILE=`));
      expect(secretTargets, v).toContain(env?.split('=')[1]);
    }
    const grafanaConfigs = (specs.grafana.TaskTemplate.ContainerSpec.Configs as any[]).map((c) => c.File.Name);
    for (const f of ['cluster-health.json', 'nodes.json', 'services.json', 'containers.json', 'pipeline.json']) expect(grafanaConfigs).toContain(`/var/lib/grafana/dashboards/swarmwatch/${f}`);
    expect(grafanaConfigs).toContain('/etc/grafana/provisioning/datasources/swarmwatch.yml');
    expect((specs.prometheus.TaskTemplate.ContainerSpec.Configs as any[]).map((c) => c.File.Name)).toContain('/etc/prometheus/prometheus.yml');
    // The configs hold the repository's files, byte for byte.
    const cfg = JSON.parse((await leader.docker(['config', 'inspect', '--format', '{{json .Spec.Data}}', `${FULL}_dashboard_services`])).stdout) as string;
    expect(Buffer.from(cfg, 'base64').toString()).toBe(fs.readFileSync(path.join(ROOT, 'grafana-dashboards/services.json'), 'utf8'));
    const net = JSON.parse((await leader.docker(['network', 'inspect', '--format', '{{json .}}', `${FULL}_monitoring`])).stdout) as { Driver: string; Attachable: boolean };
    expect(net).toMatchObject({ Driver: 'overlay', Attachable: true });
    // Nothing of it runs here (images absent): in particular no task mounted the host's engine socket.
    for (const n of names) expect(await runningOn(`${FULL}_${n}`), n).toEqual([]);
    const rm = await cli(leader, ['stack', 'rm', FULL]);
    expect(rm.code, rm.out).toBe(0);
  });
});
