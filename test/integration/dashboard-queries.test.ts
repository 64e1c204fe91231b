/**
 * Proof that no panel lies: a real Prometheus (Debian's) scrapes the real agent (dist/cli/main.js),
 * the engine's own metrics through the agent's /engine/metrics relay, and a real node-exporter,
 * over a private engine in swarm mode running a workload with its faults (a crashing service, a
 * CPU-throttled service, a job, a paused node, a dead scrape target, a firing alert). The agent runs
 * every component: its log shipper ships to the independent GELF receiver (test/receivers/gelf_receiver.py),
 * its alert engine notifies the independent webhook receiver (test/receivers/webhook_receiver.py) and
 * receives Prometheus' own alerts on /api/v2/alerts. A line longer than shipper.max-message-size gives the
 * truncation panel data. Every panel query of every dashboard, with the variables substituted as Grafana does,
 * must parse and return data; so must every variable's label_values() query.
 *
 * Fault-only panels get their faults at the end, one after the other (each would disturb the workload):
 *  - both receivers fail (GELF receiver stopped, webhook answering 503) and the node is paused: "Delivery errors",
 *    "Destination up" 0, "Notification failures and retries", "Nodes not active";
 *  - while the GELF receiver is down, the shipper's state volume (a 1 MiB tmpfs) fills up and a fast logger
 *    with `--log-opt max-size=16k --log-opt max-file=2` is rotated past the paused reader (shipper.buffer-size is
 *    256 KiB here); when the receiver is back, "Dropped log entries" shows reason rotated_before_read (and the
 *    receiver really lacks those lines) and cursor write errors;
 *  - the Docker engine is killed (SIGKILL, like a crash): "Collector errors" shows collector "engine" with
 *    SW_ERR_DOCKER_UNREACHABLE (the engine's families are the last picture the agent had).
 *
 * "Nodes not ready" gets its data in test/swarm/dashboard-faults.test.ts: a node's own engine cannot be
 * down while it answers, so it needs the multi-node swarm (a killed worker).
 *
 * The task-failure counts are also checked on synthetic series with `promtool test rules`: a label set's
 * series is born at its first failure (so increase() alone misses it) and every manager reports the same
 * failures (so sum() alone multiplies them).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fillFilesystem, mountSmallDisk, unmountSmallDisk } from '../support/full-disk.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARDS, metricNames, panelQueries, substitute, type PanelQuery } from '../../grafana-dashboards/src/index.js';
import { DROP_REASONS } from '../../log-shipper/metrics.js';
import { ensureBusyboxImage, startEngine, type PrivateEngine } from '../bed/index.js';
import { readWebhooks, startWebhookReceiver, type Proc } from '../fixtures/alerts/harness.js';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import { freePort, startAgent, type AgentProcess } from '../support/agent.js';
import { find } from '../support/prom-text.js';
import { runPanelQuery, runPanelQueryWithData, scrapeHealth, startPrometheus, type PrometheusProcess, type PromResult } from '../support/prometheus.js';
import { until } from '../support/until.js';

/** Queries whose data needs a fault this single-engine bed cannot produce (see the header; "Nodes not ready": test/swarm/dashboard-faults.test.ts). */
const NO_DATA_HERE = new Set(['Nodes not ready']);
/** Fault-only panels whose fault comes after the main checks (it would disturb the workload). */
const FAULT_AT_THE_END = new Set(['Nodes not active', 'Delivery errors', 'Notification failures and retries', 'Dropped log entries', 'Collector errors']);
/** Encoded messages the shipper holds before reading pauses: small, so a GELF outage pauses the readers within a second. */
const SHIPPER_BUFFER = 262_144;
const API_TOKEN = 'dashboard-test-token';
// 2 s: on a loaded 2-core machine (CI, two test files at once) scrapes of the agent took up to 1.3 s, and up to
// 2.5 s at this interval; one over the timeout (at most the interval) marks every series of the target stale, and
// a panel queried then shows no data: those that must show data are asked again (runQueryWithData).
const SCRAPE_INTERVAL_S = 2;
/** Grafana: $__rate_interval = max($__interval + scrape interval, 4 × scrape interval). */
const RATE_INTERVAL = `${4 * SCRAPE_INTERVAL_S}s`;
const ALL = '.*';

let engine: PrivateEngine;
let agent: AgentProcess;
let nodeExporter: ChildProcess | undefined;
let prometheus: PrometheusProcess | undefined;
let work = '';
let hostname = '';
let nodeId = '';
let gelf: GelfReceiver;
let webhook: Proc;
let webhookOut = '';
let webhookFail = '';
let image = '';
/** The shipper's state dir: a 1 MiB tmpfs (the "state volume"), so the test can fill it. */
let shipperDir = '';
let shipperDirMounted = false;
const extraReceivers: GelfReceiver[] = [];


/** The first whole disk in /proc/partitions (for an I/O throttle rule). */
function blockDevice(): string {
  const names = fs.readFileSync('/proc/partitions', 'utf8').split('\n').slice(2).map((l) => l.trim().split(/\s+/)[3]).filter(Boolean) as string[];
  const disk = names.find((n) => /^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+)$/.test(n));
  if (!disk) throw new Error(`no whole disk in /proc/partitions: ${names.join(' ')}`);
  return `/dev/${disk}`;
}

function daemon(cmd: string, args: string[], log: string): ChildProcess {
  // A missing binary is a set-up fault: say which package, not an uncaught spawn ENOENT after the suite ran.
  const onPath = (process.env.PATH ?? '').split(':').some((dir) => fs.existsSync(path.join(dir, cmd)));
  if (!onPath) throw new Error(`${cmd} is not installed: run scripts/ensure-test-deps.sh (Debian package ${cmd}, listed in scripts/test-packages.txt)`);
  const out = fs.openSync(log, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  return child;
}

async function promApi(pathAndQuery: string): Promise<PromResult> {
  return prometheus!.api(pathAndQuery);
}

function runQuery(q: PanelQuery, vars: Record<string, string>): Promise<{ expr: string; result: PromResult }> {
  return runPanelQuery(prometheus!, q, vars, RATE_INTERVAL, SCRAPE_INTERVAL_S);
}

/**
 * runQuery for a panel that must show data: asked again for up to 30 s while it returns none (scrapeHealth). 15 s
 * was not enough in a CI run: each scrape of the agent re-lists the cluster (exporter.cluster-max-age 0) and waits up
 * to cluster.timeout (3 s) for a loaded engine, over this test's 2 s scrape timeout (11 failed scrapes in that run).
 */
function runQueryWithData(q: PanelQuery, vars: Record<string, string>): Promise<{ expr: string; result: PromResult }> {
  return runPanelQueryWithData(prometheus!, q, vars, RATE_INTERVAL, SCRAPE_INTERVAL_S);
}

const ALL_VARS = { stack: ALL, service: ALL, node: ALL };

function panelQuery(panel: string, refId: string): PanelQuery {
  const q = DASHBOARDS.flatMap(({ build }) => panelQueries(build())).find((x) => x.panel === panel && x.refId === refId);
  if (!q) throw new Error(`no query ${refId} in panel "${panel}"`);
  return q;
}

/** Each series a panel query shows ("All" selected) over the run, with its largest value. */
async function panelPeaks(panel: string, refId: string): Promise<{ expr: string; series: Array<{ metric: Record<string, string>; peak: number }> }> {
  const { expr, result } = await runQuery(panelQuery(panel, refId), ALL_VARS);
  if (result.status !== 'success') throw new Error(`${panel} [${refId}] does not run: ${result.error} — ${expr}`);
  const series = result.data!.result.map((x) => ({ metric: x.metric, peak: Math.max(...(x.values ?? (x.value ? [x.value] : [])).map((v) => Number(v[1]))) }));
  return { expr, series };
}

function prometheusConfig(agentAddr: string, engineTarget: { addr: string; path: string }, nodeExporterAddr: string): string {
  // Static targets carry the labels deploy/prometheus/prometheus.yml derives from Swarm discovery.
  const labels = `{ swarm_node: ${JSON.stringify(hostname)}, swarm_node_id: ${JSON.stringify(nodeId)} }`;
  return `global:
  scrape_interval: ${SCRAPE_INTERVAL_S}s
  evaluation_interval: ${SCRAPE_INTERVAL_S}s
rule_files: [${JSON.stringify(path.join(work, 'fault-rules.yml'))}]
alerting:
  alertmanagers:
    - api_version: v2
      authorization: { credentials: ${JSON.stringify(API_TOKEN)} }
      static_configs: [{ targets: [${JSON.stringify(agentAddr)}] }]
scrape_configs:
  - job_name: swarmwatch
    static_configs: [{ targets: [${JSON.stringify(agentAddr)}], labels: ${labels} }]
  - job_name: engine
    metrics_path: ${engineTarget.path}
    static_configs: [{ targets: [${JSON.stringify(engineTarget.addr)}], labels: ${labels} }]
  - job_name: node-exporter
    static_configs: [{ targets: [${JSON.stringify(nodeExporterAddr)}], labels: ${labels} }]
  - job_name: fault-dead-target
    static_configs: [{ targets: ["127.0.0.1:1"], labels: ${labels} }]
`;
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'swarmwatch-dash-'));
  const metricsPort = await freePort();
  engine = await startEngine({ name: 'dash', metricsAddr: `127.0.0.1:${metricsPort}` });
  image = await ensureBusyboxImage(engine);
  hostname = (await engine.api<{ Name: string }>('GET', '/info')).body.Name;
  const bridgeIp = (await engine.docker(['network', 'inspect', 'bridge', '--format', '{{(index .IPAM.Config 0).Gateway}}'])).stdout.trim();
  await engine.docker(['swarm', 'init', '--advertise-addr', bridgeIp, '--listen-addr', `${bridgeIp}:0`, '--default-addr-pool', '10.216.0.0/16']);
  nodeId = (await engine.api<{ Swarm: { NodeID: string } }>('GET', '/info')).body.Swarm.NodeID;

  // The workload: a stack "demo" with a CPU-bound, CPU- and memory-limited service (throttling,
  // memory vs limit), a crashing service (task failures, a degraded service), a job (completed
  // tasks) and one update (update state).
  const svc = (name: string, args: string[]) => engine.docker(['service', 'create', '--detach', '--no-resolve-image', '--name', `demo_${name}`,
    '--label', 'com.docker.stack.namespace=demo', '--container-label', 'com.docker.stack.namespace=demo', ...args]);
  await svc('web', ['--replicas', '2', '--limit-cpu', '0.1', '--limit-memory', '32m', image, 'sh', '-c', 'while :; do :; done']);
  await svc('crash', ['--restart-delay', '1s', image, 'sh', '-c', 'sleep 1; exit 3']);
  await svc('job', ['--mode', 'replicated-job', image, 'true']);
  await engine.docker(['service', 'update', '--detach', '--env-add', 'UPDATED=1', 'demo_web']);
  // Logs for the shipper: one 2000-character line (over the 1024-byte shipper.max-message-size below: truncated), then a line every 200 ms.
  await svc('log', [image, 'sh', '-c', "printf '%02000d\\n' 0; i=0; while :; do echo \"line $i\"; i=$((i+1)); usleep 200000; done"]);
  // Block I/O: v1 throttle counters list devices only for a container with an I/O rule (values stay 0 on these VMs).
  const disk = blockDevice();
  await engine.docker(['run', '-d', '--name', 'io', '--network', 'none', '--device-write-bps', `${disk}:10mb`, image, 'sh', '-c', 'while :; do dd if=/dev/zero of=/tmp/x bs=64k count=16 2>/dev/null; sleep 1; done']);

  gelf = await startGelfReceiver({ proto: 'tcp', dir: work });
  shipperDir = path.join(work, 'shipper');
  mountSmallDisk(shipperDir, '1m');
  shipperDirMounted = true;
  const webhookPort = await freePort();
  webhookOut = path.join(work, 'webhooks.jsonl');
  webhookFail = path.join(work, 'webhook-fail');
  webhook = await startWebhookReceiver(webhookPort, webhookOut, webhookFail);
  agent = await startAgent('agent', {
    dockerHost: engine.dockerHost,
    args: ['--docker.reconcile-interval=2s', '--cluster.refresh-interval=1s', `--exporter.engine-metrics-url=http://127.0.0.1:${metricsPort}/metrics`,
      `--shipper.destination=tcp://127.0.0.1:${gelf.port}`, `--shipper.state-dir=${shipperDir}`, '--shipper.max-message-size=1024',
      '--shipper.reconnect-max-delay=500ms', `--shipper.buffer-size=${SHIPPER_BUFFER}`,
      `--alertmanager.state-dir=${path.join(work, 'alertmanager')}`, `--alertmanager.webhook.url=http://127.0.0.1:${webhookPort}/hook`,
      `--alertmanager.api-token=${API_TOKEN}`, '--alertmanager.retry-initial=200ms', '--alertmanager.retry-max=500ms', '--alertmanager.notify-max-age=2s'],
  });
  const agentAddr = new URL(agent.url).host;
  // The relay (exporter/engine-relay.ts) is what the deployment scrapes. Until exporter/index.ts mounts
  // it, scrape the same dockerd endpoint directly so the engine panels are still proven on real data.
  // Components mount their routes after /-/healthy answers: give the exporter a moment.
  const relayed = await until('relay mounted', async () => (await fetch(`${agent.url}/engine/metrics`)).status !== 404, 5_000).catch(() => false);
  if (!relayed) console.warn('dashboard-queries: the agent does not serve /engine/metrics yet; scraping dockerd --metrics-addr directly');
  const engineTarget = relayed ? { addr: agentAddr, path: '/engine/metrics' } : { addr: `127.0.0.1:${metricsPort}`, path: '/metrics' };

  const nePort = await freePort();
  nodeExporter = daemon('prometheus-node-exporter', [`--web.listen-address=127.0.0.1:${nePort}`, '--collector.disable-defaults',
    '--collector.cpu', '--collector.meminfo', '--collector.filesystem', '--collector.loadavg'], path.join(work, 'node-exporter.log'));

  fs.writeFileSync(path.join(work, 'fault-rules.yml'), [
    'groups:',
    '  - name: fault-scenario',
    '    rules:',
    '      # A dead scrape target is a real fault; Prometheus posts this alert to the agent\'s /api/v2/alerts.',
    '      - alert: ScrapeTargetDown',
    '        expr: up == 0',
    '        labels: { severity: warning }',
    '',
  ].join('\n'));
  prometheus = await startPrometheus(work, prometheusConfig(agentAddr, engineTarget, `127.0.0.1:${nePort}`));

  // Enough history for rate() windows and for the crashing service to fail a few times.
  const has = (query: string) => prometheus!.has(query);
  await until('task failures counted and an alert firing', () => has('sum(swarmwatch_task_failures_total) >= 2 and on() count(swarmwatch_alerts_firing) > 0'), 60_000);
  // The shipper ships (and has truncated the long line), the alert engine has notified the webhook and received Prometheus' alert.
  // 90 s: with three test files at once on 2 cores, 30 s once passed before all four showed.
  await until('lines shipped, a notification sent, an alert posted', () => has([
    `sum(rate(swarmwatch_shipper_lines_total[${RATE_INTERVAL}])) > 0`,
    // count(rate()): the panels' rate() needs two samples of a series born at its first increment.
    `count(rate(swarmwatch_shipper_truncated_total[${RATE_INTERVAL}]))`,
    `count(rate(swarmwatch_alert_notifications_sent_total[${RATE_INTERVAL}]))`,
    `count(rate(swarmwatch_alert_api_alerts_received_total[${RATE_INTERVAL}]))`,
  ].join(' and on() ')), 90_000);
  // Container families need two samples of both web tasks for rate(); the assertions name what is missing.
  await until('rates of every source', () => has([
    `count(rate(container_cpu_usage_seconds_total{cpu="total"}[${RATE_INTERVAL}])) >= 2`,
    `count(rate(node_cpu_seconds_total[${RATE_INTERVAL}]))`,
    `count(rate(engine_daemon_container_actions_seconds_count[${RATE_INTERVAL}]))`,
    `count(rate(container_blkio_device_usage_total[${RATE_INTERVAL}]))`,
  ].join(' and on() ')), 20_000).catch(() => undefined);
}, 300_000);

afterAll(async () => {
  await prometheus?.stop();
  nodeExporter?.kill('SIGTERM');
  await agent?.stop();
  await gelf?.stop();
  for (const r of extraReceivers) await r.stop();
  await webhook?.stop();
  await engine?.stop({ graceful: false });
  if (shipperDirMounted) unmountSmallDisk(shipperDir);
  if (work) fs.rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('every dashboard panel against a real Prometheus', () => {
  it('every metric a panel names exists in Prometheus (real scrapes of the agent, the relay and node-exporter)', async () => {
    const names = new Set((await promApi('/api/v1/label/__name__/values')).data as unknown as string[]);
    // Labelled counters appear at their first increment: the fault test at the end proves those panels' names by their data.
    const missing = DASHBOARDS.flatMap(({ build }) => panelQueries(build()).flatMap((q) =>
      metricNames(q.expr).filter((n) => !names.has(n) && !NO_DATA_HERE.has(q.panel) && !FAULT_AT_THE_END.has(q.panel)).map((n) => `${q.dashboard} / ${q.panel}: ${n}`)));
    expect(missing).toEqual([]);
  });

  it('every variable query returns values', async () => {
    for (const { build, file } of DASHBOARDS) {
      for (const v of build().templating?.list ?? []) {
        if (v.type !== 'query') continue;
        const q = (v.query as { query: string }).query;
        const m = /^label_values\((.*),\s*(\w+)\)$/.exec(q);
        expect(m, `${file} $${v.name}: ${q}`).not.toBeNull();
        const selector = substitute(m![1]!, { stack: ALL, service: ALL, node: ALL }, 60, RATE_INTERVAL);
        const r = await promApi(`/api/v1/label/${m![2]}/values?${new URLSearchParams({ 'match[]': selector })}`);
        expect(r.status, `${file} $${v.name}`).toBe('success');
        expect((r.data as unknown as string[]).length, `${file} $${v.name} has no values`).toBeGreaterThan(0);
      }
    }
  });

  it('every panel query parses and returns data ("All" selected)', async () => {
    const failures: string[] = [];
    let ran = 0;
    for (const { build } of DASHBOARDS) {
      for (const q of panelQueries(build())) {
        const expectData = !NO_DATA_HERE.has(q.panel) && !FAULT_AT_THE_END.has(q.panel);
        const { expr, result } = await (expectData ? runQueryWithData : runQuery)(q, { stack: ALL, service: ALL, node: ALL, topk: '10' });
        ran++;
        if (result.status !== 'success') failures.push(`${q.dashboard} / ${q.panel} [${q.refId}] does not run: ${result.error} — ${expr}`);
        else if (result.data!.result.length === 0 && expectData) failures.push(`${q.dashboard} / ${q.panel} [${q.refId}] returns no data${q.faultOnly ? ' (fault-only)' : ''} — ${expr}`);
      }
    }
    const scrapes = await scrapeHealth(prometheus!);
    console.log(`every panel ("All"): ${ran} queries, ${failures.length} without data; scrapes so far: ${scrapes}`);
    expect(failures, `scrapes: ${scrapes}`).toEqual([]);
    expect(ran).toBeGreaterThan(60);
  });

  it('panels filtered to one stack, service and node still return data', async () => {
    const vars = { stack: 'demo', service: 'demo_web', node: hostname, topk: '5' };
    const failures: string[] = [];
    for (const { build } of DASHBOARDS.filter((d) => /containers|services/.test(d.file))) {
      for (const q of panelQueries(build())) {
        // Block I/O devices appear only for the plain "io" container (services cannot set an I/O rule).
        if (q.faultOnly || NO_DATA_HERE.has(q.panel) || q.panel.startsWith('Block I/O')) continue;
        const { expr, result } = await runQueryWithData(q, vars);
        if (result.status !== 'success' || result.data!.result.length === 0) failures.push(`${q.dashboard} / ${q.panel} [${q.refId}]: ${result.error ?? 'no data'} — ${expr}`);
      }
    }
    expect(failures, failures.length > 0 ? `scrapes: ${await scrapeHealth(prometheus!)}` : undefined).toEqual([]);
  });

  it('the shipper and alert-engine panels show what the receivers got', async () => {
    const queries = DASHBOARDS.flatMap(({ build }) => panelQueries(build()));
    const one = (panel: string) => queries.find((x) => x.panel === panel)!;
    const vars = { stack: 'demo', service: 'demo_log', node: hostname };
    const logLines = gelf.messages().filter((m) => String(m.short_message).startsWith('line '));
    expect(logLines.length, 'lines of demo_log at the GELF receiver').toBeGreaterThan(0);
    for (const panel of ['Shipped lines per second', 'Shipped bytes per second', 'Shipping lag']) {
      const { expr, result } = await runQueryWithData(one(panel), vars);
      const series = (result.data?.result ?? []) as Array<{ metric: Record<string, string> }>;
      expect(series.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      const onlyDemoLog = series.every((x) => (panel === 'Shipping lag' ? x.metric.container_name?.startsWith('demo_log.') : x.metric.service === 'demo_log'));
      expect(onlyDemoLog, `${panel}: ${JSON.stringify(series.map((x) => x.metric))}`).toBe(true);
    }
    const { result: truncated } = await runQueryWithData(one('Truncated messages'), { stack: ALL, service: ALL, node: ALL });
    expect((truncated.data?.result as Array<{ metric: Record<string, string> }>).map((x) => x.metric.reason)).toContain('max_message_size');

    const hooks = readWebhooks(webhookOut);
    expect(hooks.length, 'webhook requests').toBeGreaterThan(0);
    const sent = await runQueryWithData(one('Notifications sent (range)'), { stack: ALL, service: ALL, node: ALL });
    const value = Number(((sent.result.data?.result ?? []) as Array<{ value: [number, string] }>)[0]?.value[1]);
    expect(value, sent.expr).toBeGreaterThanOrEqual(1);
    // Counted in the range, not since the agent started: at most what the receiver saw (some may still be in flight).
    expect(value).toBeLessThanOrEqual(readWebhooks(webhookOut).length);
    const firing = await runQueryWithData(one('Firing alerts'), { stack: ALL, service: ALL, node: ALL });
    expect((firing.result.data?.result as Array<{ metric: Record<string, string> }>).map((x) => x.metric.alertname)).toContain('SwarmTaskFailed');
  });

  it('healthy: "Collector errors" shows no engine error, "Dropped log entries" shows 0 for every reason', async () => {
    const errors = await panelPeaks('Collector errors', 'A');
    expect(errors.series.filter((x) => x.metric.collector === 'engine'), errors.expr).toEqual([]);
    // The reasons are exported from 0, so the first drop shows as an increase (a series born at 1 would show none).
    const dropped = await panelPeaks('Dropped log entries', 'A');
    expect(dropped.series.map((x) => x.metric.reason).sort(), dropped.expr).toEqual([...DROP_REASONS].sort());
    expect(dropped.series.map((x) => x.peak), dropped.expr).toEqual(DROP_REASONS.map(() => 0));
    expect((await panelPeaks('Dropped log entries', 'B')).series).toEqual([]);
  });

  it('fault: a paused node shows in "Nodes not active"; failing receivers show in the delivery-error panels', async () => {
    // The GELF receiver goes away and the webhook answers 503; pausing the node fires SwarmNodeUnavailable,
    // a new notification that is retried and given up after alertmanager.notify-max-age (2 s).
    fs.writeFileSync(webhookFail, '');
    await gelf.stop();
    await engine.docker(['node', 'update', '--availability', 'pause', nodeId]);
    const queries = DASHBOARDS.flatMap(({ build }) => panelQueries(build()));
    const all = { stack: ALL, service: ALL, node: ALL };
    const q = queries.find((x) => x.panel === 'Nodes not active')!;
    await until('paused node in the panel', async () => (await runQuery(q, all)).result.data?.result.length === 1, 20_000);
    for (const x of queries.filter((y) => y.panel === 'Delivery errors' || y.panel === 'Notification failures and retries')) {
      await until(`${x.panel} [${x.refId}] has data`, async () => ((await runQuery(x, all)).result.data?.result.length ?? 0) > 0, 30_000)
        .catch(async (err: Error) => { throw new Error(`${err.message}; scrapes: ${await scrapeHealth(prometheus!)}`); });
    }
    const down = queries.find((x) => x.panel === 'Destination up')!;
    await until('destination down', async () => ((await runQuery(down, all)).result.data?.result as Array<{ values: Array<[number, string]> }>)[0]?.values.at(-1)?.[1] === '0', 10_000);
  });

  it('fault: while the GELF receiver is down, a full state volume and a log rotated away unread show in "Dropped log entries"', async () => {
    // The receiver has been down since the previous test. The disk holding shipper.state-dir fills up: every
    // cursor write fails from now on (delivery goes on).
    const filler = fillFilesystem(shipperDir);
    // A container logging ≈2,000 lines/s, rotated by the engine every ≈16 KiB, keeping one old file.
    const logger = 'rotating-logger';
    await engine.docker(['run', '-d', '--name', logger, '--network', 'none', '--log-opt', 'max-size=16k', '--log-opt', 'max-file=2',
      image, 'sh', '-c', 'i=1; while :; do seq $i $((i+199)); i=$((i+200)); usleep 100000; done']);
    const logPath = (await engine.api<{ LogPath: string }>('GET', `/containers/${logger}/json`)).body.LogPath;
    // Its first lines fill the shipper's buffer: reading pauses (at shipper.buffer-size, until half of it drained).
    await until('the shipper buffer full', async () => (find(await agent.scrape(), 'swarmwatch_shipper_queue_bytes')[0]?.value ?? 0) >= SHIPPER_BUFFER, 20_000, 100);
    // Three rotations from now: the file the paused reader holds and the one after it are deleted unread. (A
    // rotation shows as a new inode of the live file; a deleted file's inode number can come back, so changes count.)
    let rotations = 0;
    let ino = fs.statSync(logPath).ino;
    await until('three rotations', async () => {
      try {
        const now = fs.statSync(logPath).ino;
        if (now !== ino) { rotations++; ino = now; }
      } catch { /* mid-rotation */ }
      return rotations >= 3;
    }, 20_000, 10);
    const back = await startGelfReceiver({ proto: 'tcp', port: gelf.port, dir: work });
    extraReceivers.push(back);

    // The panel: drops by reason, and cursor write errors.
    await until('"Dropped log entries" shows rotated_before_read', async () =>
      (await panelPeaks('Dropped log entries', 'A')).series.some((x) => x.metric.reason === 'rotated_before_read' && x.peak > 0), 20_000);
    await until('"Dropped log entries" shows cursor write errors', async () =>
      (await panelPeaks('Dropped log entries', 'B')).series.some((x) => x.peak > 0), 20_000);
    const dropped = await panelPeaks('Dropped log entries', 'A');
    expect(dropped.series.find((x) => x.metric.reason === 'unparsable_entry')?.peak, dropped.expr).toBe(0);
    // What the panel says happened did happen: the receiver got lines from before and after the rotated files, not
    // those in between (a batch repeated after the reconnect is not a gap).
    await until('lines after a gap at the receiver', async () => {
      const got = back.messages().filter((m) => m._container_name === logger).map((m) => Number(m.short_message));
      return got.some((n, i) => i > 0 && n > got[i - 1]! + 1);
    }, 20_000);
    expect(agent.stderr()).toMatch(new RegExp(`the log of ${logger} was rotated past its cursor before it was read`));
    // Failed cursor writes leave no temp files behind on the full volume (one may be in flight).
    expect(fs.readdirSync(shipperDir).filter((f) => f.startsWith('cursors.json.tmp-')).length).toBeLessThanOrEqual(1);
    fs.rmSync(filler);
    await engine.docker(['rm', '-f', logger]);
  });

  it('fault: the Docker engine killed shows in "Collector errors"', async () => {
    await engine.kill();
    await until('"Collector errors" shows the engine unreachable', async () =>
      (await panelPeaks('Collector errors', 'A')).series.some((x) => x.metric.collector === 'engine' && x.metric.code === 'SW_ERR_DOCKER_UNREACHABLE' && x.peak > 0), 20_000);
  });
});

describe('task failure panels count what happened (promtool on synthetic series)', () => {
  it('a series born inside the range counts its first value; managers are not added up; resets and old failures are handled', () => {
    const queries = DASHBOARDS.flatMap(({ build }) => panelQueries(build()));
    const table = queries.find((q) => q.panel === 'Task failures by exit code (range)')!;
    const stat = queries.find((q) => q.panel === 'Task failures (range)')!;
    const vars = { stack: ALL, service: ALL, node: ALL };
    const x = (instance: string, node: string, code: string, values: string) =>
      `      - { series: 'swarmwatch_task_failures_total{instance="${instance}",service_name="web",node_id="${node}",exit_code="${code}",state="failed"}', values: '${values}' }`;
    // One sample a minute, evaluated at 20m over a 10m range (10m..20m).
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'swarmwatch-failures-')), 'test.yml');
    fs.writeFileSync(file, [
      'rule_files: []',
      'evaluation_interval: 1m',
      'tests:',
      '  - interval: 1m',
      '    input_series:',
      x('m1', 'n1', '1', '_x12 1x10'), // first failure of this label set at 12m: the series is born at 1
      x('m1', 'n1', '2', '2x14 5x8'), // 3 failures at 14m on a series older than the range...
      x('m2', 'n1', '2', '_x3 1x11 4x8'), // ...reported by a second manager too (started later): still 3
      x('m1', 'n2', '3', '4x15 _ 1x6'), // the agent restarted at 15m, then one failure: 1
      x('m1', 'n2', '4', '_x5 1x17'), // a failure before the range: not shown
      '    promql_expr_test:',
      `      - expr: ${JSON.stringify(substitute(table.expr, vars, 600, RATE_INTERVAL))}`,
      '        eval_time: 20m',
      '        exp_samples:',
      `          - { labels: '{service_name="web",exit_code="1",state="failed"}', value: 1 }`,
      `          - { labels: '{service_name="web",exit_code="2",state="failed"}', value: 3 }`,
      `          - { labels: '{service_name="web",exit_code="3",state="failed"}', value: 1 }`,
      `      - expr: ${JSON.stringify(substitute(stat.expr, vars, 600, RATE_INTERVAL))}`,
      '        eval_time: 20m',
      `        exp_samples: [{ labels: '{}', value: 5 }]`,
      '',
    ].join('\n'));
    const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8', timeout: 30_000 });
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('on real data the table shows the crashing service with at least one failure', async () => {
    const q = DASHBOARDS.flatMap(({ build }) => panelQueries(build())).find((x) => x.panel === 'Task failures by exit code (range)')!;
    const { expr, result } = await runQuery(q, { stack: ALL, service: ALL, node: ALL });
    const rows = (result.data?.result ?? []) as Array<{ metric: Record<string, string>; value: [number, string] }>;
    const crash = rows.find((row) => row.metric.service_name === 'demo_crash');
    expect(crash, `${expr} → ${JSON.stringify(rows)}`).toBeDefined();
    expect(crash!.metric.exit_code).toBe('3');
    expect(Number(crash!.value[1])).toBeGreaterThanOrEqual(1);
  });
});
