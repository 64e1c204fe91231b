/**
 * npm run bench:alerts — seconds from fault injection to notification received, on a real 3-manager + 1-worker
 * test swarm (test/bed startSwarm), for swarmwatch's alert engine and, side by side in the same run, for real
 * Prometheus + Alertmanager (Debian) evaluating the PromQL twins (deploy/prometheus/rules/swarm-alerts.yml) over
 * swarmwatch's exporter. Both deliver to one independent webhook receiver (test/receivers/webhook_receiver.py,
 * stdlib Python), on two paths; its own receive timestamps are the measurement.
 *
 *   swarmwatch path: `node dist/cli/main.js alertmanager` against the leader's socket, default settings
 *                    (group_wait 1s, event-driven evaluation with 1 s reconciliation, 5 s cluster refresh);
 *                    a second instance with --cluster.refresh-interval=1s is measured alongside (extra column).
 *   Prometheus path: `node dist/cli/main.js exporter` against the leader's socket ← Prometheus (15 s scrape and
 *                    evaluation intervals, default resend delay) → Alertmanager (route group_by [alertname],
 *                    default group_wait 30s) → webhook.
 *
 * Faults: (a) manager down: SIGKILL one non-leader manager (its dockerd, containerd, shims: a node crash);
 *         (b) quorum lost: SIGKILL a second manager. Then both are restarted and the swarm is torn down.
 *
 * Prometheus drops the first notification of an alert that fires right after it starts (the notifier has no
 * Alertmanager yet) and re-sends only after --rules.alert.resend-delay (1m). A warm-up alert
 * (BenchPipelineReady, vector(1) for 20s) is therefore delivered end to end through Prometheus and Alertmanager
 * before the first fault, so neither measured alert is the first one.
 *
 *   npm run bench:alerts
 *   SWARMWATCH_BENCH_ALERT_TIMEOUT=240 npm run bench:alerts   # seconds to wait for each notification
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSwarm, type SwarmNode, type TestSwarm } from '../test/bed/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/cli/main.js');
const TWINS = path.join(ROOT, 'deploy/prometheus/rules/swarm-alerts.yml');
const ALERT_TIMEOUT_S = Number(process.env.SWARMWATCH_BENCH_ALERT_TIMEOUT ?? 180);
const TARGET_SECONDS = 5;
const TARGET_RATIO = 4;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-alerts-bench-'));
const HOOKS = path.join(work, 'hooks.jsonl');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[bench:alerts ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

async function waitUntil<T>(fn: () => T | Promise<T>, ms: number, what: string, stepMs = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out after ${(ms / 1000).toFixed(0)} s waiting for ${what}`);
    await sleep(stepMs);
  }
}

interface Proc { name: string; child: ChildProcess; output(): string; stop(): Promise<void> }
const procs: Proc[] = [];

function startProc(name: string, cmd: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => { out = (out + d.toString()).slice(-20_000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const p: Proc = {
    name, child, output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
  procs.push(p);
  return p;
}

async function waitHttp(p: Proc, url: string, what: string, ms = 60_000): Promise<void> {
  await waitUntil(async () => {
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited with ${p.child.exitCode}: ${p.output()}`);
    return (await fetch(url)).ok;
  }, ms, what, 200).catch((err: Error) => { throw new Error(`${err.message}\n--- ${p.name}:\n${p.output()}`); });
}

interface Hook { time: number; path: string; payload: { status: string; alerts: { status: string; labels: Record<string, string> }[] } }

function hooks(): Hook[] {
  if (!fs.existsSync(HOOKS)) return [];
  return fs.readFileSync(HOOKS, 'utf8').split('\n').filter(Boolean).map((l) => {
    const r = JSON.parse(l) as { time: number; path: string; body: string };
    return { time: r.time, path: r.path, payload: JSON.parse(r.body) as Hook['payload'] };
  });
}

/** Receive time (epoch seconds, the receiver's clock) of the first firing notification of `alertname` on `hookPath` after `since`. */
function firstFiring(hookPath: string, alertname: string, since: number): number | undefined {
  return hooks().find((h) => h.path === hookPath && h.time >= since && h.payload.alerts.some((a) => a.status === 'firing' && a.labels.alertname === alertname))?.time;
}

/** swarmwatch-1s: a second instance with --cluster.refresh-interval=1s (the API emits no event for a manager's
 * reachability, so with the default 5 s refresh a manager-down detection waits up to 5 s for the next poll). */
const PATHS = ['swarmwatch', 'swarmwatch-1s', 'prometheus'] as const;
type PathName = typeof PATHS[number];
interface Measurement { fault: string; alertname: string; t0: number; seconds: Partial<Record<PathName, number>> }

/** Waits for the first firing notification of each alert on both paths; records seconds since t0 (missing on timeout). */
async function measure(fault: string, t0: number, alertnames: string[]): Promise<Measurement[]> {
  const rows = alertnames.map((alertname) => ({ fault, alertname, t0, seconds: {} as Measurement['seconds'] }));
  const end = Date.now() + ALERT_TIMEOUT_S * 1000;
  for (;;) {
    for (const r of rows) {
      for (const p of PATHS) {
        if (r.seconds[p] !== undefined) continue;
        const t = firstFiring(`/${p}`, r.alertname, t0);
        if (t !== undefined) {
          r.seconds[p] = t - t0;
          log(`${fault}: ${r.alertname} via ${p} after ${(t - t0).toFixed(2)} s`);
        }
      }
    }
    if (rows.every((r) => PATHS.every((p) => r.seconds[p] !== undefined))) return rows;
    if (Date.now() > end) {
      log(`${fault}: gave up after ${ALERT_TIMEOUT_S} s on ${rows.flatMap((r) => PATHS.filter((p) => r.seconds[p] === undefined).map((p) => `${r.alertname} via ${p}`)).join(', ')}`);
      return rows;
    }
    await sleep(100);
  }
}

function ensureAlertmanagerBinary(): string {
  for (const b of ['/usr/bin/prometheus-alertmanager', '/usr/bin/alertmanager']) if (fs.existsSync(b)) return b;
  log('installing Debian prometheus-alertmanager (apt-get)');
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'prometheus-alertmanager'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return '/usr/bin/prometheus-alertmanager';
}

function versionOf(bin: string): string {
  try {
    return /version (\S+)/.exec(execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))?.[1] ?? '?';
  } catch (err) {
    return /version (\S+)/.exec(String((err as { stderr?: string }).stderr ?? ''))?.[1] ?? '?';
  }
}

async function swarmHealthy(swarm: TestSwarm): Promise<boolean> {
  const nodes = await swarm.listNodes();
  return nodes.length === swarm.nodes.length && nodes.every((n) => n.Status.State === 'ready' && (n.Spec.Role !== 'manager' || n.ManagerStatus?.Reachability === 'reachable'));
}

async function main(): Promise<void> {
  if (!fs.existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build`');
  const amBin = ensureAlertmanagerBinary();
  const promBin = '/usr/bin/prometheus';
  if (!fs.existsSync(promBin)) throw new Error('Debian prometheus is missing: bash scripts/ensure-test-deps.sh');
  let swarm: TestSwarm | undefined;
  const killed: SwarmNode[] = [];
  const rows: Measurement[] = [];
  let recovery = '';
  const started = Date.now();
  try {
    const t = Date.now();
    swarm = await startSwarm({ managers: 3, workers: 1 });
    const leader = await swarm.leader();
    log(`swarm ${swarm.tag} up in ${((Date.now() - t) / 1000).toFixed(1)} s, leader ${leader.name}`);

    const [whPort, swPort, sw1Port, exPort, amPort, promPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const receiver = startProc('webhook receiver', '/usr/bin/python3', [path.join(ROOT, 'test/receivers/webhook_receiver.py'), String(whPort), HOOKS]);
    await waitUntil(() => /listening/.test(receiver.output()), 10_000, 'the webhook receiver');

    // swarmwatch: the real CLI, default settings, the leader's socket.
    const sw = startProc('swarmwatch alertmanager', process.execPath, [CLI, 'alertmanager', `--http.listen=127.0.0.1:${swPort}`,
      `--alertmanager.state-dir=${path.join(work, 'sw-state')}`, `--alertmanager.webhook.url=http://127.0.0.1:${whPort}/swarmwatch`], { DOCKER_HOST: leader.dockerHost });
    const sw1 = startProc('swarmwatch alertmanager (1s refresh)', process.execPath, [CLI, 'alertmanager', `--http.listen=127.0.0.1:${sw1Port}`, '--cluster.refresh-interval=1s',
      `--alertmanager.state-dir=${path.join(work, 'sw1-state')}`, `--alertmanager.webhook.url=http://127.0.0.1:${whPort}/swarmwatch-1s`], { DOCKER_HOST: leader.dockerHost });
    // The exporter Prometheus scrapes, on the same socket.
    const ex = startProc('swarmwatch exporter', process.execPath, [CLI, 'exporter', `--http.listen=127.0.0.1:${exPort}`], { DOCKER_HOST: leader.dockerHost });

    fs.writeFileSync(path.join(work, 'alertmanager.yml'), [
      'route:',
      '  receiver: bench',
      '  group_by: [alertname]   # group_wait 30s, group_interval 5m, repeat_interval 4h: the defaults',
      'receivers:',
      '  - name: bench',
      '    webhook_configs:',
      `      - url: http://127.0.0.1:${whPort}/prometheus`,
      '',
    ].join('\n'));
    const am = startProc('alertmanager', amBin, [`--config.file=${path.join(work, 'alertmanager.yml')}`, `--storage.path=${path.join(work, 'am')}`,
      `--web.listen-address=127.0.0.1:${amPort}`, '--cluster.listen-address=']);

    fs.writeFileSync(path.join(work, 'warmup.yml'), [
      'groups:',
      '  - name: bench-warmup',
      '    rules:',
      '      - alert: BenchPipelineReady',
      '        expr: vector(1)',
      '        for: 20s',
      '',
    ].join('\n'));
    fs.writeFileSync(path.join(work, 'prometheus.yml'), [
      'global: { scrape_interval: 15s, evaluation_interval: 15s }',
      `rule_files: ["${TWINS}", "${path.join(work, 'warmup.yml')}"]`,
      'alerting:',
      '  alertmanagers:',
      `    - static_configs: [{ targets: ["127.0.0.1:${amPort}"] }]`,
      'scrape_configs:',
      '  - job_name: swarmwatch',
      `    static_configs: [{ targets: ["127.0.0.1:${exPort}"] }]`,
      '',
    ].join('\n'));
    await Promise.all([
      waitHttp(sw, `http://127.0.0.1:${swPort}/-/ready`, 'swarmwatch alertmanager ready'),
      waitHttp(sw1, `http://127.0.0.1:${sw1Port}/-/ready`, 'swarmwatch alertmanager (1s refresh) ready'),
      waitHttp(ex, `http://127.0.0.1:${exPort}/metrics`, 'the exporter'),
      waitHttp(am, `http://127.0.0.1:${amPort}/-/ready`, 'Alertmanager ready'),
    ]);
    const prom = startProc('prometheus', promBin, [`--config.file=${path.join(work, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(work, 'prom')}`,
      `--web.listen-address=127.0.0.1:${promPort}`]);
    await waitHttp(prom, `http://127.0.0.1:${promPort}/-/ready`, 'Prometheus ready');
    const warm0 = Date.now() / 1000;
    log('warming up: BenchPipelineReady through Prometheus → Alertmanager → webhook (≈ 60 s)');
    await waitUntil(() => firstFiring('/prometheus', 'BenchPipelineReady', 0), 180_000, 'BenchPipelineReady through the Prometheus path', 250);
    log(`Prometheus path ready after ${(Date.now() / 1000 - warm0).toFixed(1)} s`);
    const exporterUp = await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('swarmwatch_cluster_quorum_margin')}`)).json() as { data: { result: { value: [number, string] }[] } };
    if (exporterUp.data.result.length === 0) throw new Error('Prometheus has no swarmwatch_cluster_quorum_margin series from the exporter');
    log(`quorum margin as Prometheus sees it: ${exporterUp.data.result[0]!.value[1]}`);
    if (!(await swarmHealthy(swarm))) throw new Error('the swarm is not healthy before the first fault');

    const [a, b] = swarm.managers.filter((m) => m.nodeId !== leader.nodeId);
    // (a) manager down
    const t1 = Date.now() / 1000;
    killed.push(a!);
    await a!.kill();
    log(`killed ${a!.name}`);
    rows.push(...await measure('manager down', t1, ['SwarmManagerUnreachable', 'SwarmQuorumAtRisk']));
    // (b) quorum lost
    const t2 = Date.now() / 1000;
    killed.push(b!);
    await b!.kill();
    log(`killed ${b!.name}`);
    rows.push(...await measure('quorum lost', t2, ['SwarmQuorumLost']));

    // Restore: both managers back, quorum and every node healthy again.
    const t3 = Date.now();
    await Promise.all(killed.map((n) => n.start(120_000)));
    const back = Date.now();
    await swarm.waitFor(() => swarmHealthy(swarm!), 180_000, 'the swarm healthy again');
    recovery = `restart of both managers: API up after ${((back - t3) / 1000).toFixed(1)} s, all nodes ready and reachable after ${((Date.now() - t3) / 1000).toFixed(1)} s`;
    log(recovery);
    killed.length = 0;
  } finally {
    for (const n of killed) if (!n.isRunning()) await n.start(120_000).catch(() => undefined);
    for (const p of [...procs].reverse()) await p.stop();
    if (swarm) await swarm.stop();
    if (process.env.SWARMWATCH_BENCH_KEEP !== '1') fs.rmSync(work, { recursive: true, force: true });
  }

  const fmt = (s: number | undefined) => (s === undefined ? `> ${ALERT_TIMEOUT_S}` : s.toFixed(2));
  const lines = [
    `swarmwatch alert engine vs Prometheus ${versionOf(promBin)} + Alertmanager ${versionOf(amBin)}, one run on a 3-manager + 1-worker test swarm, ${os.cpus().length} cores, node ${process.version}`,
    'seconds from SIGKILL of the manager(s) to the first firing notification at the webhook receiver',
    '',
    '| fault | alert | swarmwatch s (defaults) | Prometheus path s | ratio | swarmwatch s (--cluster.refresh-interval=1s) |',
    '|---|---|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const sw = r.seconds.swarmwatch;
      const pr = r.seconds.prometheus;
      const ratio = sw !== undefined && pr !== undefined ? `${(pr / sw).toFixed(1)}×` : '–';
      return `| ${r.fault} | ${r.alertname} | ${fmt(sw)} | ${fmt(pr)} | ${ratio} | ${fmt(r.seconds['swarmwatch-1s'])} |`;
    }),
    '',
  ];
  const primary = rows.filter((r) => r.alertname === 'SwarmManagerUnreachable' || r.alertname === 'SwarmQuorumLost');
  const fast = primary.every((r) => r.seconds.swarmwatch !== undefined && r.seconds.swarmwatch <= TARGET_SECONDS);
  const ratio = primary.every((r) => r.seconds.swarmwatch !== undefined && r.seconds.prometheus !== undefined && r.seconds.prometheus / r.seconds.swarmwatch >= TARGET_RATIO);
  lines.push(`targets: ≤ ${TARGET_SECONDS} s for both faults: ${fast ? 'met' : 'NOT met'}; ≥ ${TARGET_RATIO}× faster than the Prometheus path: ${ratio ? 'met' : 'NOT met'}`);
  if (recovery) lines.push(recovery);
  lines.push(`bench wall time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.stdout.write(lines.join('\n') + '\n');
  if (!fast || !ratio) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench:alerts failed: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
