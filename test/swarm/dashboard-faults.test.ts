/**
 * Fault-only dashboard panels that need the multi-node swarm (test/integration/dashboard-queries.test.ts
 * proves every other panel on a single engine and lists these as left without data there).
 *
 * "Nodes not ready" (Cluster health): a real Prometheus (Debian's, 1 s scrapes) scrapes the real agent on
 * the leader; the worker is killed, and once the leader's API shows it down the panel's query — read from
 * the committed grafana-dashboards/cluster-health.json, variables substituted as Grafana does — must return
 * a series for the killed node, with "All" and with the node variable set to its host name. The worker is
 * restarted and the swarm left healthy for the scenario files that follow.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { panelQueries, type PanelQuery } from '../../grafana-dashboards/src/index.js';
import type { DashboardJson } from '../../grafana-dashboards/src/schema.js';
import { attachSwarm, type SwarmNode, type TestSwarm } from '../bed/index.js';
import { startAgent, type AgentProcess } from '../support/agent.js';
import { runPanelQuery, startPrometheus, type PrometheusProcess, type PromResult } from '../support/prometheus.js';
import { until } from '../support/until.js';

const SCRAPE_INTERVAL_S = 1;
/** Grafana: $__rate_interval = max($__interval + scrape interval, 4 × scrape interval). */
const RATE_INTERVAL = `${4 * SCRAPE_INTERVAL_S}s`;
const ALL = '.*';
const DASHBOARD_FILE = fileURLToPath(new URL('../../grafana-dashboards/cluster-health.json', import.meta.url));

let swarm: TestSwarm;
let leader: SwarmNode;
let worker: SwarmNode;
let agent: AgentProcess | undefined;
let prometheus: PrometheusProcess | undefined;
let work = '';

/** Runs a panel query as Grafana would over the time since Prometheus started (instant or range). */
function runQuery(q: PanelQuery, vars: Record<string, string>): Promise<{ expr: string; result: PromResult }> {
  return runPanelQuery(prometheus!, q, vars, RATE_INTERVAL, SCRAPE_INTERVAL_S);
}

/** The committed dashboard JSON (what Grafana is provisioned with), not the generator's in-memory build. */
function panelFromJson(title: string): PanelQuery[] {
  const d = JSON.parse(fs.readFileSync(DASHBOARD_FILE, 'utf8')) as DashboardJson;
  return panelQueries(d).filter((q) => q.panel === title);
}

beforeAll(async () => {
  swarm = attachSwarm();
  leader = await swarm.leader(60_000);
  worker = swarm.workers[0]!;
  await swarm.waitFor(async () => (await swarm.listNodes()).every((n) => n.Status.State === 'ready'), 60_000, 'all nodes ready');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'swarmwatch-dash-faults-'));
  agent = await startAgent('exporter', { dockerHost: leader.dockerHost, args: ['--cluster.refresh-interval=1s'] });
  // Static target labels: what deploy/prometheus/prometheus.yml derives from Swarm discovery (the node filters use them).
  const labels = `{ swarm_node: ${JSON.stringify(leader.hostname)}, swarm_node_id: ${JSON.stringify(leader.nodeId)} }`;
  prometheus = await startPrometheus(work, `global:
  scrape_interval: ${SCRAPE_INTERVAL_S}s
  evaluation_interval: ${SCRAPE_INTERVAL_S}s
scrape_configs:
  - job_name: swarmwatch
    static_configs: [{ targets: [${JSON.stringify(new URL(agent.url).host)}], labels: ${labels} }]
`);
  await until('the agent scraped with 4 ready nodes', () => prometheus!.has('count(max by (node_id) (swarmwatch_cluster_node_state{state="ready"}) == 1) == 4'), 20_000);
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  await agent?.stop();
  if (worker && !worker.isRunning()) await worker.start(90_000).catch(() => undefined);
  if (work) fs.rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('fault-only dashboard panels on the real 3+1 swarm', () => {
  it('a killed worker shows in "Nodes not ready", then leaves it when it is back', async () => {
    const queries = panelFromJson('Nodes not ready');
    expect(queries.length, `"Nodes not ready" in ${DASHBOARD_FILE}`).toBeGreaterThan(0);
    // Healthy swarm: the panel is empty.
    for (const q of queries) {
      const { expr, result } = await runQuery({ ...q, instant: true }, { stack: ALL, service: ALL, node: ALL });
      expect(result.status, `${expr}: ${result.error}`).toBe('success');
      expect(result.data!.result, expr).toEqual([]);
    }

    await worker.kill();
    await swarm.waitFor(async () => (await swarm.listNodes()).find((n) => n.ID === worker.nodeId)?.Status.State === 'down', 30_000, 'API shows the worker down');

    for (const node of [ALL, worker.hostname]) {
      for (const q of queries) {
        const vars = { stack: ALL, service: ALL, node };
        const series = await until(`"Nodes not ready" [${q.refId}] lists ${worker.hostname} (node=${node})`, async () => {
          const { result } = await runQuery(q, vars);
          if (result.status !== 'success') throw new Error(result.error);
          const s = result.data!.result.filter((x) => x.metric.node_id === worker.nodeId);
          return s.length > 0 && s;
        }, 10_000);
        expect(series[0]!.metric).toMatchObject({ hostname: worker.hostname, node_id: worker.nodeId, state: 'down' });
        // Only the killed node: the three managers are still ready.
        const { expr, result } = await runQuery({ ...q, instant: true }, vars);
        expect(result.data!.result.map((x) => x.metric.node_id), expr).toEqual([worker.nodeId]);
      }
    }
    // Filtered to another node, the panel does not list the worker.
    for (const q of queries) {
      const { expr, result } = await runQuery({ ...q, instant: true }, { stack: ALL, service: ALL, node: leader.hostname });
      expect(result.data!.result, expr).toEqual([]);
    }

    await worker.start(90_000);
    await swarm.waitFor(async () => (await swarm.listNodes()).find((n) => n.ID === worker.nodeId)?.Status.State === 'ready', 60_000, 'API shows the worker ready again');
    for (const q of queries) {
      await until('"Nodes not ready" empty again', async () => {
        const { result } = await runQuery({ ...q, instant: true }, { stack: ALL, service: ALL, node: ALL });
        return result.status === 'success' && result.data!.result.length === 0;
      }, 10_000);
    }
  });
});
