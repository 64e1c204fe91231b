import { CONTAINER, RATE, SERVICE, taskFailureRate, taskFailuresIn } from './filters.js';
import { Layout, NODE_VAR, SERVICE_VAR, STACK_VAR, dashboard } from './panels.js';

/** Per service: desired vs running, task states, failures (exit codes), restarts, and the resources of its tasks. */
export function services() {
  const svc = 'container_label_com_docker_swarm_service_name';
  const l = new Layout()
    .row('Services')
    .table({ title: 'Services', width: 24, height: 7, queries: [
      { expr: `max by (stack, service_name, mode, image) (swarmwatch_service_info{${SERVICE}})` },
    ] })
    .timeseries({ title: 'Desired vs running tasks', queries: [
      { expr: `max by (service_name) (swarmwatch_service_desired_tasks{${SERVICE}})`, legend: '{{service_name}} desired' },
      { expr: `min by (service_name) (swarmwatch_service_running_tasks{${SERVICE}})`, legend: '{{service_name}} running' },
    ] })
    .timeseries({ title: 'Tasks by state', description: "Task objects in the managers' store (bounded by the task history limit).", stacked: true, queries: [
      { expr: `max by (service_name, state) (swarmwatch_service_tasks{${SERVICE}}) > 0`, legend: '{{service_name}} {{state}}' },
    ] })
    .table({ title: 'Update state', description: 'Services that were updated at least once, with the state of their last update.', queries: [
      { expr: `max by (stack, service_name, state) (swarmwatch_service_update_state{${SERVICE}}) == 1` },
    ] })
    .table({ title: 'Completed tasks (jobs)', faultOnly: 'only job services (replicated-job, global-job) complete tasks.', queries: [
      { expr: `max by (stack, service_name) (swarmwatch_service_completed_tasks{${SERVICE}})` },
    ] })
    .row('Failures and restarts')
    .table({ title: 'Task failures by exit code (range)', description: 'Tasks that entered failed or rejected in the time range, counted once however many managers report them (a label set\'s first failure included). The error texts of recent failures: GET /api/v1/task-failures on any manager\'s agent.', faultOnly: 'a task must have failed in the time range.', queries: [
      { expr: `sum by (service_name, exit_code, state) (${taskFailuresIn('$__range', 'service_name=~"$service"')}) > 0` },
    ] })
    .timeseries({ title: 'Task failures per node', description: 'Per second. The first failure of a service/node/exit code starts its counter at 1, which a rate cannot show: the table counts it.', unit: 'ops', faultOnly: 'a task must have failed in the time range.', queries: [
      { expr: `sum by (service_name, node_id) (${taskFailureRate('service_name=~"$service"')})`, legend: '{{service_name}} on {{node_id}}' },
    ] })
    .timeseries({ title: 'Task containers started', description: 'Containers of each service started in the last 10 minutes: above the replica count means restarts.', queries: [
      { expr: `count by (${svc}) (max_over_time(container_start_time_seconds{${CONTAINER}}[10m]) > time() - 600)`, legend: `{{${svc}}}` },
    ] })
    .row('Resources per service')
    .timeseries({ title: 'CPU per service', unit: 'percentunit', queries: [
      { expr: `sum by (${svc}) (rate(container_cpu_usage_seconds_total{cpu="total", ${CONTAINER}}[${RATE}]))`, legend: `{{${svc}}}` },
    ] })
    .timeseries({ title: 'Memory (working set) per service', unit: 'bytes', queries: [
      { expr: `sum by (${svc}) (container_memory_working_set_bytes{${CONTAINER}})`, legend: `{{${svc}}}` },
    ] })
    .timeseries({ title: 'Network received per service', unit: 'Bps', queries: [
      { expr: `sum by (${svc}) (rate(container_network_receive_bytes_total{${CONTAINER}}[${RATE}]))`, legend: `{{${svc}}}` },
    ] })
    .timeseries({ title: 'Network sent per service', unit: 'Bps', queries: [
      { expr: `sum by (${svc}) (rate(container_network_transmit_bytes_total{${CONTAINER}}[${RATE}]))`, legend: `{{${svc}}}` },
    ] });
  return dashboard({
    uid: 'swarmwatch-services', title: 'Swarm / Services & tasks',
    description: 'Desired vs running tasks, task states, failures by exit code, restarts, CPU/memory/network per service.',
    layout: l, variables: [STACK_VAR(), SERVICE_VAR(), NODE_VAR()],
  });
}
