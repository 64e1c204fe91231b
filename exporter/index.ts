import type { Component, ComponentModule, AgentContext } from '../core/runtime/component.js';
import { registerEngineCollector } from './collectors/engine.js';
import { ClusterCollector } from './collectors/cluster.js';
import { exporterOwnOptions } from './options.js';

function createExporter(ctx: AgentContext): Component {
  let cluster: ClusterCollector | undefined;
  return {
    name: 'exporter',
    async start() {
      registerEngineCollector(ctx.registry, ctx.state);
      cluster = new ClusterCollector(ctx.registry, ctx.state, {
        maxViewAgeMs: ctx.config.duration('exporter.cluster-max-age'),
        refreshWaitMs: ctx.config.duration('cluster.timeout'),
        failureHistory: ctx.config.int('exporter.failure-history'),
      });
      ctx.app.get('/api/v1/task-failures', (_req, res) => {
        res.json({ failures: [...(cluster?.recentFailures ?? [])].reverse() });
      });
    },
    async stop() {
      cluster?.stop();
    },
  };
}

export const exporterModule: ComponentModule = {
  name: 'exporter',
  summary: 'Prometheus metrics: cAdvisor-compatible container metrics from cgroups, engine state and, on managers, cluster state',
  options: exporterOwnOptions,
  needsCluster: true,
  create: createExporter,
};
