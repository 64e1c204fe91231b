/** The dashboards and the file each is committed as (grafana-dashboards/<file>). */
import { clusterHealth } from './cluster-health.js';
import { containers } from './containers.js';
import { nodes } from './nodes.js';
import { pipeline } from './pipeline.js';
import type { DashboardJson } from './schema.js';
import { services } from './services.js';

export { FAULT_ONLY_PREFIX } from './panels.js';

export const DASHBOARDS: Array<{ file: string; build: () => DashboardJson }> = [
  { file: 'cluster-health.json', build: clusterHealth },
  { file: 'nodes.json', build: nodes },
  { file: 'services.json', build: services },
  { file: 'containers.json', build: containers },
  { file: 'pipeline.json', build: pipeline },
];

/** The JSON text committed for a dashboard (stable formatting, trailing newline). */
export function render(d: DashboardJson): string {
  return JSON.stringify(d, null, 2) + '\n';
}
export { metricNames, panelQueries, substitute, type PanelQuery, type VariableValues } from './promql.js';
