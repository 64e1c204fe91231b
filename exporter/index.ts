import type { Component, ComponentModule, AgentContext } from '../core/runtime/component.js';
import { ClusterCollector } from './collectors/cluster.js';
import { createContainerCollector, type ContainerCollector } from './collectors/container.js';
import { registerEngineCollector } from './collectors/engine.js';
import { mountEngineRelay } from './engine-relay.js';
import { containerOptions } from './options-container.js';
import { exporterOwnOptions } from './options.js';

function createExporter(ctx: AgentContext): Component {
  let cluster: ClusterCollector | undefined;
  let containers: ContainerCollector | undefined;
  return {
    name: 'exporter',
    async start() {
      registerEngineCollector(ctx.registry, ctx.state, ctx.stats);
      cluster = new ClusterCollector(ctx.registry, ctx.state, {
        maxViewAgeMs: ctx.config.duration('exporter.cluster-max-age'),
        refreshWaitMs: ctx.config.duration('cluster.timeout'),
        failureHistory: ctx.config.int('exporter.failure-history'),
      }, ctx.stats);
      containers = createContainerCollector({
        state: ctx.state,
        stats: ctx.stats,
        hostRoot: ctx.config.str('exporter.host-root'),
        extraLabels: ctx.config.list('exporter.container-labels'),
        percpu: ctx.config.bool('exporter.percpu'),
        cgroupDriver: ctx.config.str('exporter.cgroup-driver') as 'auto' | 'cgroupfs' | 'systemd',
        log: ctx.log.child('containers'),
      });
      const timed = containers;
      ctx.textCollectors.push({
        name: timed.name,
        collect: () => ctx.stats.time(timed.name, () => timed.collect()).then((t) => t ?? ''),
        stream: (sink) => ctx.stats.time(timed.name, () => timed.stream(sink)).then(() => undefined),
      });
      ctx.app.get('/api/v1/task-failures', (_req, res) => {
        res.json({ failures: [...(cluster?.recentFailures ?? [])].reverse() });
      });
      mountEngineRelay(ctx.app, ctx.config.str('exporter.engine-metrics-url'), ctx.log.child('engine-relay'));
    },
    async stop() {
      cluster?.stop();
      containers?.stop();
    },
  };
}

export const exporterModule: ComponentModule = {
  name: 'exporter',
  summary: 'Prometheus metrics: cAdvisor-compatible container metrics from cgroups, engine state and, on managers, cluster state',
  options: [...exporterOwnOptions, ...containerOptions],
  needsCluster: true,
  create: createExporter,
};
