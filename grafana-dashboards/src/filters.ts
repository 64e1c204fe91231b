/** Label filters shared by the dashboards, so every panel honours the stack/service/node variables alike. */

/** Container families (cAdvisor-compatible): Swarm labels of the task, plus the scrape target's node. */
export const CONTAINER = 'container_label_com_docker_stack_namespace=~"$stack", container_label_com_docker_swarm_service_name=~"$service", swarm_node=~"$node", name!=""';
/** Per-node families of the agent, the relayed engine metrics and node-exporter. */
export const NODE = 'swarm_node=~"$node"';
/** Service families of the managers' cluster view. */
export const SERVICE = 'stack=~"$stack", service_name=~"$service"';
/** Node families of the managers' cluster view (host name as Swarm reports it). */
export const CLUSTER_NODE = 'hostname=~"$node"';
/** Grafana's interval for rate(): at least four scrape intervals. */
export const RATE = '$__rate_interval';

/**
 * Task failures in a window, per failing label set (service_name, node_id, exit_code, state), deduplicated
 * across the managers that report them (every manager's agent counts the same failures: max, not sum).
 *
 * `increase()` alone lies here: the exporter creates a label set's series on its first failure, so the
 * series is born at 1 (or more) and increase() never counts a series' first sample — a service that failed
 * once in the window showed nothing. Per reporting agent, a series that already existed when the window
 * began counts its increase (reset-safe, rounded: failures are whole); a series born inside the window
 * counts everything it holds, because all of it happened inside the window.
 */
export function taskFailuresIn(window: string, filter: string): string {
  return `max by (service_name, node_id, exit_code, state) (${countedIn(`swarmwatch_task_failures_total{${filter}}`, window)})`;
}

/**
 * Per series, the events a counter counted in a window, including those of a series born inside it (a
 * labelled prom-client counter appears at its first increment, already at 1 or more, and increase() never
 * counts a series' first sample). Aggregate the result with max (replicas reporting the same events) or
 * sum (instances counting their own).
 */
export function countedIn(selector: string, window: string): string {
  return `(round(increase(${selector}[${window}])) and ${selector} offset ${window}) or (max_over_time(${selector}[${window}]) unless ${selector} offset ${window})`;
}

/** The failure rate per failing label set, deduplicated across the reporting managers (see taskFailuresIn). */
export function taskFailureRate(filter: string): string {
  return `max by (service_name, node_id, exit_code, state) (rate(swarmwatch_task_failures_total{${filter}}[${RATE}]))`;
}
