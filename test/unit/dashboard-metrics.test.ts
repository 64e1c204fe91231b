/**
 * Every metric a dashboard panel names is one the project exports (its source registers it), one
 * prom-client's default collectors export, or one of the three outside sources the deployment
 * scrapes: Prometheus itself (up, scrape_*, ALERTS), node-exporter (node_*) and the engine's own
 * metrics relayed at /engine/metrics (engine_*, swarm_*). The integration test
 * test/integration/dashboard-queries.test.ts checks the same names against real scrapes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DASHBOARDS, metricNames, panelQueries } from '../../grafana-dashboards/src/index.js';

const ROOT = path.resolve(__dirname, '../..');
const SOURCE_DIRS = ['core', 'exporter', 'log-shipper', 'alertmanager'];
const PROMETHEUS_SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added', 'ALERTS', 'ALERTS_FOR_STATE']);
/** Scraped from other programs, proven by the integration test against their real output. */
const OUTSIDE = /^(node_|engine_daemon_|swarm_)/;

function sourceFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'test' ? [] : sourceFiles(p);
    return /\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name) ? [p] : [];
  });
}

/** Names the project's sources declare: quoted metric-looking literals with our prefixes. */
export function exportedBySource(): Set<string> {
  const names = new Set<string>();
  for (const file of SOURCE_DIRS.flatMap((d) => sourceFiles(path.join(ROOT, d)))) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/['"`]((?:swarmwatch|container)_[a-z0-9_]+)['"`]/g)) names.add(m[1]!);
  }
  return names;
}

async function promClientDefaults(): Promise<Set<string>> {
  const r = new Registry();
  collectDefaultMetrics({ register: r });
  const names = new Set<string>();
  for (const m of await r.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram' || String(m.type) === 'summary') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

describe('metric names used by the dashboards', () => {
  it('extracts metric names from PromQL, skipping functions, keywords, labels and variables', () => {
    expect(metricNames('topk($topk, sum by (name, swarm_node) (rate(container_cpu_usage_seconds_total{cpu="total", name=~"a|b"}[$__rate_interval]))) or vector(0)'))
      .toEqual(['container_cpu_usage_seconds_total']);
    expect(metricNames('count(max by (service_id) (a_total) > max by (service_id) (b)) / on(x) group_left(y) c offset 5m')).toEqual(['a_total', 'b', 'c']);
    expect(metricNames('time() - max_over_time(x[10m]) > time() - 600')).toEqual(['x']);
  });

  it('every metric a panel names is exported', async () => {
    const known = new Set([...exportedBySource(), ...(await promClientDefaults()), ...PROMETHEUS_SYNTHETIC]);
    const missing: string[] = [];
    for (const { build } of DASHBOARDS) {
      for (const q of panelQueries(build())) {
        for (const name of metricNames(q.expr)) {
          if (!known.has(name) && !OUTSIDE.test(name)) missing.push(`${q.dashboard} / ${q.panel}: ${name}`);
        }
      }
    }
    expect(missing, 'panels name metrics nothing exports').toEqual([]);
  });
});
