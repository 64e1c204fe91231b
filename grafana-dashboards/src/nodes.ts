import { CLUSTER_NODE, NODE, RATE } from './filters.js';
import { Layout, NODE_VAR, SERVICE_VAR, STACK_VAR, dashboard } from './panels.js';

/** Per node: host resources (node-exporter), the engine (agent + relayed dockerd metrics) and its containers. */
export function nodes() {
  const C = `swarm_node=~"$node", name!=""`;
  const l = new Layout()
    .row('Inventory')
    .table({ title: 'Swarm nodes', width: 24, height: 6, queries: [{ expr: `max by (hostname, node_id, role, engine_version, address) (swarmwatch_cluster_node_info{${CLUSTER_NODE}})` }] })
    .table({ title: 'Engines', description: 'Engine version and cgroup setup of each node as its agent sees it.', width: 24, height: 6, queries: [{ expr: `max by (swarm_node, version, api_version, cgroup_version, cgroup_driver, os, kernel) (swarmwatch_engine_info{${NODE}})` }] })
    .stat({ title: 'Engines up', queries: [{ expr: `sum(swarmwatch_engine_up{${NODE}})` }], baseColor: 'blue' })
    .stat({ title: 'Engines down', queries: [{ expr: `count(swarmwatch_engine_up{${NODE}} == 0) or vector(0)` }], thresholds: [['red', 1]] })
    .stat({ title: 'Engine versions', queries: [{ expr: `count(count by (version) (swarmwatch_engine_info{${NODE}}))` }], thresholds: [['orange', 2]] })
    .stat({ title: 'Managers', queries: [{ expr: `sum(swarmwatch_node_swarm_manager{${NODE}})` }], baseColor: 'blue' })
    .stat({ title: 'Unhealthy containers', queries: [{ expr: `sum(swarmwatch_engine_containers_unhealthy{${NODE}})` }], thresholds: [['red', 1]] })
    .stat({ title: 'Running containers', queries: [{ expr: `sum(swarmwatch_engine_containers{state="running", ${NODE}})` }], baseColor: 'blue' })
    .row('Host (node-exporter)')
    .timeseries({ title: 'Host CPU busy', unit: 'percentunit', min: 0, max: 1, queries: [{ expr: `1 - avg by (swarm_node) (rate(node_cpu_seconds_total{mode="idle", ${NODE}}[${RATE}]))`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Host memory used', unit: 'percentunit', min: 0, max: 1, queries: [{ expr: `1 - max by (swarm_node) (node_memory_MemAvailable_bytes{${NODE}}) / max by (swarm_node) (node_memory_MemTotal_bytes{${NODE}})`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Host disk used', unit: 'percentunit', min: 0, max: 1, queries: [{ expr: `1 - max by (swarm_node, mountpoint) (node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs", ${NODE}}) / max by (swarm_node, mountpoint) (node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs", ${NODE}})`, legend: '{{swarm_node}} {{mountpoint}}' }] })
    .timeseries({ title: 'Host load (1m) per CPU', queries: [{ expr: `max by (swarm_node) (node_load1{${NODE}}) / count by (swarm_node) (node_cpu_seconds_total{mode="idle", ${NODE}})`, legend: '{{swarm_node}}' }] })
    .row('Engine and containers')
    .timeseries({ title: 'Containers by state', stacked: true, queries: [{ expr: `sum by (swarm_node, state) (swarmwatch_engine_containers{${NODE}})`, legend: '{{swarm_node}} {{state}}' }] })
    .timeseries({ title: 'Container actions (dockerd)', unit: 'ops', description: "The engine's own metrics, relayed by the agent at /engine/metrics.", queries: [{ expr: `sum by (swarm_node, action) (rate(engine_daemon_container_actions_seconds_count{${NODE}}[${RATE}]))`, legend: '{{swarm_node}} {{action}}' }] })
    .timeseries({ title: 'Container CPU per node', unit: 'percentunit', queries: [{ expr: `sum by (swarm_node) (rate(container_cpu_usage_seconds_total{cpu="total", ${C}}[${RATE}]))`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Container memory (working set) per node', unit: 'bytes', queries: [{ expr: `sum by (swarm_node) (container_memory_working_set_bytes{${C}})`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Container network per node', unit: 'Bps', queries: [
      { expr: `sum by (swarm_node) (rate(container_network_receive_bytes_total{${C}}[${RATE}]))`, legend: '{{swarm_node}} received' },
      { expr: `-sum by (swarm_node) (rate(container_network_transmit_bytes_total{${C}}[${RATE}]))`, legend: '{{swarm_node}} sent' },
    ] })
    .timeseries({ title: 'Engine health checks failed (dockerd)', unit: 'ops', queries: [{ expr: `sum by (swarm_node) (rate(engine_daemon_health_checks_failed_total{${NODE}}[${RATE}]))`, legend: '{{swarm_node}}' }] });
  return dashboard({
    uid: 'swarmwatch-nodes', title: 'Swarm / Nodes',
    description: 'Host CPU, memory and disk (node-exporter), engine versions and containers, container CPU/memory/network per node.',
    layout: l, variables: [STACK_VAR(), SERVICE_VAR(), NODE_VAR()],
  });
}
