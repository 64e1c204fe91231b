import { CLUSTER_NODE, RATE, SERVICE, taskFailureRate, taskFailuresIn } from './filters.js';
import { Layout, NODE_VAR, SERVICE_VAR, STACK_VAR, dashboard } from './panels.js';

/**
 * Is the swarm able to take decisions? Quorum first (Raft margin, reachable managers, leader),
 * then nodes and services. Every manager exports its own view: min() shows the worst one.
 */
export function clusterHealth() {
  const l = new Layout()
    .row('Raft quorum')
    .stat({ title: 'Quorum margin', description: 'Reachable managers minus quorum size (worst manager view). 0 = no fault tolerance, < 0 = quorum lost.', queries: [{ expr: 'min(swarmwatch_cluster_quorum_margin)' }], baseColor: 'red', thresholds: [['orange', 0], ['green', 1]] })
    .stat({ title: 'Managers reachable', queries: [{ expr: 'min(swarmwatch_cluster_managers_reachable)', legend: 'reachable' }, { expr: 'max(swarmwatch_cluster_managers)', legend: 'managers' }] })
    .stat({ title: 'Quorum size', queries: [{ expr: 'max(swarmwatch_cluster_quorum_size)' }], baseColor: 'blue' })
    .stat({ title: 'Leader present', description: '0 when a manager API answers "no leader", deadline exceeded or times out.', queries: [{ expr: 'min(swarmwatch_cluster_leader_present)' }], baseColor: 'red', thresholds: [['green', 1]] })
    .table({ title: 'Leader', width: 8, height: 4, queries: [{ expr: 'max by (hostname, node_id) (swarmwatch_cluster_manager_leader) == 1' }] })
    .table({ title: 'Manager reachability', queries: [{ expr: `max by (hostname, reachability) (swarmwatch_cluster_manager_reachability{${CLUSTER_NODE}}) == 1` }] })
    .timeseries({ title: 'Quorum margin over time', queries: [{ expr: 'min(swarmwatch_cluster_quorum_margin)', legend: 'margin' }, { expr: 'min(swarmwatch_cluster_managers_reachable)', legend: 'reachable managers' }, { expr: 'max(swarmwatch_cluster_quorum_size)', legend: 'quorum size' }] })
    .row('Nodes')
    .timeseries({ title: 'Nodes by state', stacked: true, queries: [{ expr: `count by (state) (max by (node_id, state) (swarmwatch_cluster_node_state{${CLUSTER_NODE}}) == 1)`, legend: '{{state}}' }] })
    .timeseries({ title: 'Nodes by availability', stacked: true, queries: [{ expr: `count by (availability) (max by (node_id, availability) (swarmwatch_cluster_node_availability{${CLUSTER_NODE}}) == 1)`, legend: '{{availability}}' }] })
    .table({ title: 'Nodes not ready', faultOnly: 'lists nodes whose state is down, unknown or disconnected.', queries: [{ expr: `max by (hostname, node_id, state) (swarmwatch_cluster_node_state{state!="ready", ${CLUSTER_NODE}}) == 1` }] })
    .table({ title: 'Nodes not active', faultOnly: 'lists drained or paused nodes.', queries: [{ expr: `max by (hostname, node_id, availability) (swarmwatch_cluster_node_availability{availability!="active", ${CLUSTER_NODE}}) == 1` }] })
    .row('Services and tasks')
    .stat({ title: 'Services', queries: [{ expr: `count(max by (service_id) (swarmwatch_service_info{${SERVICE}}))` }], baseColor: 'blue' })
    .stat({ title: 'Degraded services', description: 'Services running fewer tasks than desired.', queries: [{ expr: `count(max by (service_id) (swarmwatch_service_desired_tasks{${SERVICE}}) > max by (service_id) (swarmwatch_service_running_tasks{${SERVICE}})) or vector(0)` }], thresholds: [['red', 1]] })
    .stat({ title: 'Task failures (range)', description: 'Tasks that entered failed or rejected in the time range, counted once however many managers report them.', queries: [{ expr: `sum(${taskFailuresIn('$__range', 'service_name=~"$service"')}) or vector(0)` }], thresholds: [['orange', 1]] })
    .table({ title: 'Degraded services', width: 12, faultOnly: 'lists services whose running tasks are below the desired count.', queries: [{ expr: `max by (stack, service_name) (swarmwatch_service_desired_tasks{${SERVICE}}) - max by (stack, service_name) (swarmwatch_service_running_tasks{${SERVICE}}) > 0` }] })
    .timeseries({ title: 'Task failure rate', description: 'Tasks entering failed or rejected, per service (per second). The first failure of a service/node/exit code starts its counter at 1, which a rate cannot show: the "Task failures (range)" stat counts it.', faultOnly: 'a task must have failed in the time range.', unit: 'ops', queries: [{ expr: `sum by (service_name) (${taskFailureRate('service_name=~"$service"')})`, legend: '{{service_name}}' }] })
    .row('Alerts and API')
    .table({ title: 'Firing alerts', faultOnly: 'an alert rule must be firing.', description: 'Alerts the swarmwatch alert engine has firing, by name and severity (largest count of any instance: every manager evaluates the cluster rules).', queries: [{ expr: 'max by (alertname, severity) (swarmwatch_alerts_firing)' }] })
    .timeseries({ title: 'Cluster API errors', unit: 'ops', queries: [{ expr: `sum by (kind) (rate(swarmwatch_cluster_api_errors_total[${RATE}]))`, legend: '{{kind}}' }] })
    .timeseries({ title: 'Age of the cluster view', unit: 's', description: 'Seconds since each manager last listed the nodes; grows while quorum is lost.', queries: [{ expr: 'max by (swarm_node) (swarmwatch_cluster_view_age_seconds)', legend: '{{swarm_node}}' }] });
  return dashboard({
    uid: 'swarmwatch-cluster-health', title: 'Swarm / Cluster health',
    description: 'Raft quorum, leader, nodes by state and availability, degraded services, task failures and firing alerts.',
    layout: l, variables: [STACK_VAR(), SERVICE_VAR(), NODE_VAR()],
  });
}
