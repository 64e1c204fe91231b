import { matchesAll } from '../matchers.js';
import type { LabelSet } from '../model.js';
import type { RouteNode } from '../config/routing.js';

/**
 * Alertmanager's Route.Match: a matching route hands the alert to its first matching child (and further
 * children while those have `continue: true`); when no child matches, the route itself takes it.
 */
export function matchRoutes(route: RouteNode, labels: LabelSet): RouteNode[] {
  if (!matchesAll(route.matchers, labels)) return [];
  const all: RouteNode[] = [];
  for (const child of route.routes) {
    const m = matchRoutes(child, labels);
    all.push(...m);
    if (m.length > 0 && !child.continue) break;
  }
  return all.length > 0 ? all : [route];
}

/** The labels an alert is grouped by on a route; `null` group_by (`...`) means all of them. */
export function groupLabelsOf(route: RouteNode, labels: LabelSet): LabelSet {
  if (route.groupBy === null) return { ...labels };
  const out: LabelSet = {};
  for (const n of route.groupBy) if (labels[n] !== undefined && labels[n] !== '') out[n] = labels[n]!;
  return out;
}
