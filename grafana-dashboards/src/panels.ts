/**
 * Small builders for Grafana dashboard JSON, typed against Grafana's published schema
 * (@grafana/schema, the classic "v0" dashboard model that file provisioning reads).
 *
 * Conventions every dashboard follows (the tests rely on them):
 *  - every panel queries Prometheus through the `${datasource}` variable;
 *  - `swarm_node` / `swarm_node_id` are target labels Prometheus adds from Swarm service discovery
 *    (deploy/prometheus/prometheus.yml), so node filters work the same for the agent, the relayed
 *    engine metrics and node-exporter;
 *  - cluster-view families are exported by every manager, so panels aggregate them with max/min;
 *  - a panel that can only show data while something is wrong starts its description with
 *    FAULT_ONLY_PREFIX; the panel-query test then expects data only in its fault scenario.
 */
import type { DashboardJson, DataSourceRefJson, PanelJson, RowPanelJson, VariableJson } from './schema.js';

export const FAULT_ONLY_PREFIX = 'Fault-only:';
export const DATASOURCE: DataSourceRefJson = { type: 'prometheus', uid: '${datasource}' };
export const GRID_WIDTH = 24;

export interface Query {
  expr: string;
  legend?: string;
  /** Instant queries feed tables and stats that show "now" rather than a history. */
  instant?: boolean;
}

export interface PanelSpec {
  title: string;
  description?: string;
  /** Why the panel is empty on a healthy cluster (makes it fault-only). */
  faultOnly?: string;
  queries: Query[];
  unit?: string;
  width?: number;
  height?: number;
  /** Stat panels: value thresholds as [color, from] pairs after the base color. */
  thresholds?: Array<[string, number]>;
  baseColor?: string;
  min?: number;
  max?: number;
  stacked?: boolean;
}

type Kind = 'timeseries' | 'stat' | 'table';

/** Lays panels left to right, wrapping at the grid width, and numbers them. */
export class Layout {
  private x = 0;
  private y = 0;
  private rowHeight = 0;
  private nextId = 1;
  readonly panels: Array<PanelJson | RowPanelJson> = [];

  row(title: string): this {
    this.newLine();
    this.panels.push({ type: 'row', id: this.nextId++, title, collapsed: false, panels: [], gridPos: { x: 0, y: this.y, w: GRID_WIDTH, h: 1 } });
    this.y += 1;
    return this;
  }

  timeseries(spec: PanelSpec): this {
    return this.add('timeseries', { width: 12, height: 8, ...spec });
  }

  stat(spec: PanelSpec): this {
    return this.add('stat', { width: 4, height: 4, ...spec, queries: spec.queries.map((q) => ({ instant: true, ...q })) });
  }

  table(spec: PanelSpec): this {
    return this.add('table', { width: 12, height: 8, ...spec, queries: spec.queries.map((q) => ({ instant: true, ...q })) });
  }

  private newLine(): void {
    if (this.x > 0) {
      this.y += this.rowHeight;
      this.x = 0;
      this.rowHeight = 0;
    }
  }

  private add(type: Kind, spec: PanelSpec & { width: number; height: number }): this {
    if (this.x + spec.width > GRID_WIDTH) this.newLine();
    const description = spec.faultOnly ? `${FAULT_ONLY_PREFIX} ${spec.faultOnly}${spec.description ? ` ${spec.description}` : ''}` : spec.description;
    const panel: PanelJson = {
      type,
      id: this.nextId++,
      title: spec.title,
      ...(description ? { description } : {}),
      datasource: DATASOURCE,
      gridPos: { x: this.x, y: this.y, w: spec.width, h: spec.height },
      targets: spec.queries.map((q, i) => target(q, i, type)),
      fieldConfig: fieldConfig(type, spec),
      options: panelOptions(type),
    };
    this.panels.push(panel);
    this.x += spec.width;
    this.rowHeight = Math.max(this.rowHeight, spec.height);
    return this;
  }
}

function target(q: Query, i: number, type: Kind): Record<string, unknown> {
  return {
    refId: String.fromCharCode(65 + i),
    datasource: DATASOURCE,
    expr: q.expr,
    legendFormat: q.legend ?? '__auto',
    range: !q.instant,
    instant: Boolean(q.instant),
    // Tables read label columns from the instant vector as they are.
    ...(type === 'table' ? { format: 'table' } : {}),
  };
}

function fieldConfig(type: Kind, spec: PanelSpec): NonNullable<PanelJson['fieldConfig']> {
  const steps = [{ color: spec.baseColor ?? 'green', value: null }, ...(spec.thresholds ?? []).map(([color, value]) => ({ color, value }))];
  return {
    defaults: {
      ...(spec.unit ? { unit: spec.unit } : {}),
      ...(spec.min !== undefined ? { min: spec.min } : {}),
      ...(spec.max !== undefined ? { max: spec.max } : {}),
      thresholds: { mode: 'absolute', steps },
      ...(type === 'timeseries' && spec.stacked ? { custom: { stacking: { mode: 'normal', group: 'A' }, fillOpacity: 30 } } : {}),
    },
    overrides: [],
  };
}

function panelOptions(type: Kind): Record<string, unknown> {
  switch (type) {
    case 'stat':
      return { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background', graphMode: 'none', textMode: 'auto' };
    case 'table':
      return { showHeader: true, cellHeight: 'sm' };
    default:
      return { legend: { displayMode: 'table', placement: 'right', showLegend: true, calcs: ['lastNotNull', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } };
  }
}

/** The data source picker every dashboard starts with. */
export function datasourceVariable(): VariableJson {
  return { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', hide: 0, refresh: 1 };
}

/** A multi-value Prometheus label_values() variable with "All" meaning ".*" (so empty labels match too). */
export function labelVariable(name: string, label: string, query: string): VariableJson {
  return {
    name, label, type: 'query', datasource: DATASOURCE,
    query: { query, refId: `${name}-values` },
    includeAll: true, multi: true, allValue: '.*',
    current: { text: ['All'], value: ['$__all'] },
    refresh: 2, sort: 1, hide: 0,
  };
}

export function customVariable(name: string, label: string, values: string[]): VariableJson {
  return {
    name, label, type: 'custom', query: values.join(','),
    current: { text: values[0]!, value: values[0]! },
    options: values.map((v, i) => ({ text: v, value: v, selected: i === 0 })),
    hide: 0,
  };
}

export const STACK_VAR = () => labelVariable('stack', 'Stack', 'label_values(swarmwatch_service_info, stack)');
export const SERVICE_VAR = () => labelVariable('service', 'Service', 'label_values(swarmwatch_service_info{stack=~"$stack"}, service_name)');
export const NODE_VAR = () => labelVariable('node', 'Node', 'label_values(swarmwatch_node_swarm_info, hostname)');

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  layout: Layout;
  variables: VariableJson[];
}

/** Every dashboard links to the other four (same tag), so navigation needs no folder browsing. */
export function dashboard(spec: DashboardSpec): DashboardJson {
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: ['swarmwatch', 'docker-swarm'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    timezone: 'browser',
    fiscalYearStartMonth: 0,
    liveNow: false,
    links: [{ title: 'swarmwatch', type: 'dashboards', tags: ['swarmwatch'], asDropdown: true, includeVars: true, keepTime: true, icon: 'external link', targetBlank: false, tooltip: '', url: '' }],
    annotations: { list: [{ builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' }] },
    templating: { list: [datasourceVariable(), ...spec.variables] },
    panels: spec.layout.panels,
  };
}
