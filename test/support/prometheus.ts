/**
 * A real Prometheus (Debian's package) for tests: its own port, data dir and log, ready before it is returned.
 * Also runs a dashboard panel's query as Grafana would, so every test that proves panels asks the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { substitute, type PanelQuery } from '../../grafana-dashboards/src/index.js';
import { freePort } from './agent.js';
import { until } from './until.js';

export interface PromSeries { metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }
export interface PromResult { status: string; error?: string; data?: { resultType: string; result: PromSeries[] } }

export interface PrometheusProcess {
  url: string;
  /** Unix seconds when it was started: the longest range a panel query can ask for. */
  startedAt: number;
  child: ChildProcess;
  api(pathAndQuery: string): Promise<PromResult>;
  /** Instant query; true when it returned at least one series. */
  has(expr: string): Promise<boolean>;
  stop(): Promise<void>;
}

/** `config` is the prometheus.yml text; the data dir and log go under `work`. */
export async function startPrometheus(work: string, config: string, extraArgs: string[] = []): Promise<PrometheusProcess> {
  const file = path.join(work, 'prometheus.yml');
  fs.writeFileSync(file, config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(work, 'prometheus.log'), 'a');
  const startedAt = Date.now() / 1000;
  const child = spawn('prometheus', [`--config.file=${file}`, `--storage.tsdb.path=${path.join(work, 'prometheus-data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=1h', ...extraArgs], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const api = async (pathAndQuery: string) => (await (await fetch(`${url}${pathAndQuery}`)).json()) as PromResult;
  await until('Prometheus ready', async () => (await fetch(`${url}/-/ready`)).ok, 30_000);
  return {
    url, startedAt, child, api,
    has: async (expr) => ((await api(`/api/v1/query?${new URLSearchParams({ query: expr })}`)).data?.result.length ?? 0) > 0,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs a panel query over the time since Prometheus started, instant or range, with the variables substituted. */
export async function runPanelQuery(prom: PrometheusProcess, q: PanelQuery, vars: Record<string, string>, rateInterval: string, stepS: number): Promise<{ expr: string; result: PromResult }> {
  const now = Date.now() / 1000;
  const range = Math.max(30, Math.ceil(now - prom.startedAt));
  const expr = substitute(q.expr, vars, range, rateInterval);
  const p = new URLSearchParams({ query: expr });
  if (q.instant) {
    p.set('time', String(now));
    return { expr, result: await prom.api(`/api/v1/query?${p}`) };
  }
  p.set('start', String(now - range));
  p.set('end', String(now));
  p.set('step', String(stepS));
  return { expr, result: await prom.api(`/api/v1/query_range?${p}`) };
}

/**
 * Per scrape job, how many scrapes failed and the longest one since Prometheus started: a failed scrape (one over
 * the scrape timeout on a loaded machine) marks every series of its target stale, and an instant query at that
 * moment returns nothing. Named in a failure so that it is not taken for a panel's fault.
 */
export async function scrapeHealth(prom: PrometheusProcess): Promise<string> {
  const range = `${Math.max(30, Math.ceil(Date.now() / 1000 - prom.startedAt))}s`;
  const byJob = async (expr: string) => new Map(((await prom.api(`/api/v1/query?${new URLSearchParams({ query: expr })}`)).data?.result ?? [])
    .map((s) => [s.metric.job ?? '', Number(s.value?.[1])] as const));
  const failed = await byJob(`sum by (job) (count_over_time(up[${range}]) - sum_over_time(up[${range}]))`);
  const longest = await byJob(`max by (job) (max_over_time(scrape_duration_seconds[${range}]))`);
  return [...failed.keys()].sort().map((job) => `${job}: ${failed.get(job)} failed scrapes, longest ${longest.get(job)?.toFixed(2)} s`).join('; ');
}

/**
 * A panel query as runPanelQuery, asked again for up to `waitMs` while it returns no series: Grafana asks again at its
 * next refresh, and a query made just after a failed scrape (every series of the target stale) finds nothing.
 */
export async function runPanelQueryWithData(prom: PrometheusProcess, q: PanelQuery, vars: Record<string, string>, rateInterval: string, stepS: number, waitMs = 30_000): Promise<{ expr: string; result: PromResult }> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const answer = await runPanelQuery(prom, q, vars, rateInterval, stepS);
    if (answer.result.status !== 'success' || (answer.result.data?.result.length ?? 0) > 0 || Date.now() > deadline) return answer;
    await new Promise((r) => setTimeout(r, 500));
  }
}
