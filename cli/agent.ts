import os from 'node:os';
import type { Server } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Config } from '../core/config/load.js';
import { DockerAccess, resolveDockerHost } from '../core/docker/access.js';
import { createApp, listen } from '../core/http/server.js';
import { configureLogging, createLogger, type LogLevel } from '../core/log.js';
import { CollectorStats } from '../core/metrics/collector.js';
import type { AgentContext, Component, ComponentModule, TextCollector } from '../core/runtime/component.js';
import { SwarmState } from '../core/state/model.js';

export interface RunningAgent {
  url: string;
  server: Server;
  state: SwarmState;
  stop(): Promise<void>;
}

/** Builds the shared pieces once (Docker access, state model, registry, HTTP) and starts the chosen components. */
export async function runAgent(config: Config, modules: ComponentModule[], title: string): Promise<RunningAgent> {
  configureLogging(config.str('log.level') as LogLevel, config.str('log.format') as 'text' | 'json');
  const log = createLogger(title);
  const docker = new DockerAccess({
    host: resolveDockerHost(config.optStr('docker.host')),
    timeoutMs: config.duration('docker.timeout'),
    clusterTimeoutMs: config.duration('cluster.timeout'),
  });
  const state = new SwarmState(docker, log.child('state'), {
    reconcileIntervalMs: config.duration('docker.reconcile-interval'),
    clusterRefreshMs: config.duration('cluster.refresh-interval'),
    nodesRefreshMs: config.duration('cluster.nodes-interval'),
    watchTasks: modules.some((m) => m.needsCluster),
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // These three are gauges named *_total; promtool lints them and no dashboard needs them.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  const stats = new CollectorStats(registry);
  const textCollectors: TextCollector[] = [];
  const app = createApp(registry, textCollectors, log);
  const ctx: AgentContext = {
    config, state, registry, stats, app, log, textCollectors,
    hostname: () => config.optStr('node.hostname') ?? state.localNode?.engine.hostname ?? os.hostname(),
  };
  const components: Component[] = modules.map((m) => m.create(ctx));
  const server = await listen(app, config.str('http.listen'));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const host = config.str('http.listen').replace(/:\d+$/, '').replace(/^0\.0\.0\.0$|^$/, 'localhost');
  const url = `http://${host}:${port}`;
  // The engine may be down: start() reports that as a state and keeps retrying, it never throws for it.
  await state.start();
  for (const c of components) await c.start();
  log.info(`${title} running: metrics at ${url}/metrics`, { components: modules.map((m) => m.name), docker: docker.endpoint });

  let stopping: Promise<void> | undefined;
  return {
    url, server, state,
    stop() {
      stopping ??= (async () => {
        for (const c of [...components].reverse()) {
          try {
            await c.stop();
          } catch (err) {
            log.error(`component ${c.name} failed to stop cleanly`, { error: (err as Error).message });
          }
        }
        state.stop();
        docker.close();
        await new Promise<void>((res) => server.close(() => res()));
        server.closeAllConnections?.();
      })();
      return stopping;
    },
  };
}
