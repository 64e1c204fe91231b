/**
 * Just enough PromQL reading for the dashboard tests: which metric names a query selects, and the
 * query with Grafana's variables replaced as Grafana would before sending it to Prometheus.
 */
import type { DashboardJson, PanelJson, RowPanelJson } from './schema.js';
import { FAULT_ONLY_PREFIX } from './panels.js';

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan']);

/** Metric names selected by `expr` (identifiers that are neither functions, keywords, labels nor durations). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals (label values, regexes)
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\[[^\]]*\]/g, '') // range and subquery durations
    .replace(/\$\w+|\$\{\w+\}/g, '0'); // Grafana variables
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call || KEYWORDS.has(name!.toLowerCase())) continue;
    names.add(name!);
  }
  return [...names];
}

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
  instant: boolean;
  faultOnly: boolean;
}

/** Every query of every panel (rows included), in dashboard order. */
export function panelQueries(d: DashboardJson): PanelQuery[] {
  const out: PanelQuery[] = [];
  const visit = (p: PanelJson | RowPanelJson) => {
    if (p.type === 'row') {
      for (const inner of (p as RowPanelJson).panels) visit(inner);
      return;
    }
    const panel = p as PanelJson;
    for (const t of panel.targets ?? []) {
      out.push({
        dashboard: d.uid ?? d.title ?? '?',
        panel: panel.title ?? `#${panel.id}`,
        refId: String(t.refId),
        expr: String(t.expr),
        instant: Boolean(t.instant),
        faultOnly: (panel.description ?? '').startsWith(FAULT_ONLY_PREFIX),
      });
    }
  };
  for (const p of d.panels ?? []) visit(p);
  return out;
}

export interface VariableValues {
  /** Values per variable; "All" is ".*" as the dashboards' allValue says. */
  [name: string]: string;
}

/**
 * Replaces Grafana's variables the way Grafana does for a Prometheus query: template variables
 * by their value, $__rate_interval by a duration of at least four scrape intervals, $__range by
 * the dashboard's time range.
 */
export function substitute(expr: string, vars: VariableValues, rangeSeconds: number, rateInterval: string): string {
  return expr
    .replace(/\$__rate_interval/g, rateInterval)
    .replace(/\$__range_s/g, String(rangeSeconds))
    .replace(/\$__range/g, `${rangeSeconds}s`)
    .replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a: string | undefined, b: string | undefined) => {
      const name = (a ?? b)!;
      if (!(name in vars)) throw new Error(`unknown variable $${name} in ${expr}`);
      return vars[name]!;
    });
}
