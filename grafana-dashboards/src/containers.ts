import { CONTAINER, RATE } from './filters.js';
import { Layout, NODE_VAR, SERVICE_VAR, STACK_VAR, customVariable, dashboard } from './panels.js';

/** Per container (cAdvisor-compatible families): top-N CPU, memory vs limit, throttling, network, block I/O, OOM kills. */
export function containers() {
  const by = 'name, swarm_node';
  const legend = '{{name}} ({{swarm_node}})';
  const rate = (metric: string, extra = '') => `rate(${metric}{${extra}${CONTAINER}}[${RATE}])`;
  const l = new Layout()
    .row('CPU')
    .timeseries({ title: 'Top $topk containers by CPU', unit: 'percentunit', queries: [{ expr: `topk($topk, sum by (${by}) (${rate('container_cpu_usage_seconds_total', 'cpu="total", ')}))`, legend }] })
    .timeseries({ title: 'CPU user vs system (top $topk)', unit: 'percentunit', queries: [
      { expr: `topk($topk, sum by (${by}) (${rate('container_cpu_user_seconds_total')}))`, legend: `${legend} user` },
      { expr: `topk($topk, sum by (${by}) (${rate('container_cpu_system_seconds_total')}))`, legend: `${legend} system` },
    ] })
    .timeseries({ title: 'CPU throttled periods', unit: 'percentunit', min: 0, max: 1, description: 'Share of CFS periods in which the container hit its CPU quota.', queries: [
      { expr: `sum by (${by}) (${rate('container_cpu_cfs_throttled_periods_total')}) / (sum by (${by}) (${rate('container_cpu_cfs_periods_total')}) > 0)`, legend },
    ] })
    .timeseries({ title: 'CPU throttled time', unit: 's', queries: [{ expr: `sum by (${by}) (${rate('container_cpu_cfs_throttled_seconds_total')}) > 0`, legend }] })
    .table({ title: 'CPU limits', description: 'Quota / period = CPU limit in cores; shares = relative weight.', width: 24, queries: [
      { expr: `max by (${by}) (container_spec_cpu_quota{${CONTAINER}} > 0) / max by (${by}) (container_spec_cpu_period{${CONTAINER}})` },
      { expr: `max by (${by}) (container_spec_cpu_shares{${CONTAINER}})` },
    ] })
    .row('Memory')
    .timeseries({ title: 'Top $topk containers by memory (working set)', unit: 'bytes', queries: [{ expr: `topk($topk, sum by (${by}) (container_memory_working_set_bytes{${CONTAINER}}))`, legend }] })
    .timeseries({ title: 'Working set vs limit', unit: 'percentunit', min: 0, description: 'Containers with a memory limit only.', queries: [
      { expr: `sum by (${by}) (container_memory_working_set_bytes{${CONTAINER}}) / sum by (${by}) (container_spec_memory_limit_bytes{${CONTAINER}} > 0)`, legend },
    ] })
    .timeseries({ title: 'Memory breakdown (top $topk by usage)', unit: 'bytes', queries: [
      { expr: `topk($topk, sum by (${by}) (container_memory_usage_bytes{${CONTAINER}}))`, legend: `${legend} usage` },
      { expr: `topk($topk, sum by (${by}) (container_memory_rss{${CONTAINER}}))`, legend: `${legend} rss` },
      { expr: `topk($topk, sum by (${by}) (container_memory_cache{${CONTAINER}}))`, legend: `${legend} cache` },
      { expr: `topk($topk, sum by (${by}) (container_memory_swap{${CONTAINER}}))`, legend: `${legend} swap` },
    ] })
    .timeseries({ title: 'OOM kills and limit hits', queries: [
      { expr: `sum by (${by}) (increase(container_oom_events_total{${CONTAINER}}[${RATE}]))`, legend: `${legend} OOM kills` },
      { expr: `sum by (${by}) (rate(container_memory_failcnt{${CONTAINER}}[${RATE}]))`, legend: `${legend} limit hits/s` },
    ] })
    .row('Network')
    .timeseries({ title: 'Network traffic (top $topk)', unit: 'Bps', queries: [
      { expr: `topk($topk, sum by (${by}) (${rate('container_network_receive_bytes_total')}))`, legend: `${legend} received` },
      { expr: `-topk($topk, sum by (${by}) (${rate('container_network_transmit_bytes_total')}))`, legend: `${legend} sent` },
    ] })
    .timeseries({ title: 'Network packets', unit: 'pps', queries: [
      { expr: `sum by (${by}) (${rate('container_network_receive_packets_total')})`, legend: `${legend} received` },
      { expr: `-sum by (${by}) (${rate('container_network_transmit_packets_total')})`, legend: `${legend} sent` },
    ] })
    .timeseries({ title: 'Network errors and drops', unit: 'pps', queries: [
      { expr: `sum by (${by}, interface) (${rate('container_network_receive_errors_total')} + ${rate('container_network_transmit_errors_total')})`, legend: `${legend} {{interface}} errors` },
      { expr: `sum by (${by}, interface) (${rate('container_network_receive_packets_dropped_total')} + ${rate('container_network_transmit_packets_dropped_total')})`, legend: `${legend} {{interface}} drops` },
    ] })
    .row('Block I/O and processes')
    .timeseries({ title: 'Block I/O bytes', unit: 'Bps', queries: [
      { expr: `sum by (${by}) (${rate('container_fs_reads_bytes_total')})`, legend: `${legend} read` },
      { expr: `-sum by (${by}) (${rate('container_fs_writes_bytes_total')})`, legend: `${legend} written` },
    ] })
    .timeseries({ title: 'Block I/O by device and operation', unit: 'Bps', queries: [
      { expr: `sum by (${by}, device, operation) (${rate('container_blkio_device_usage_total')})`, legend: `${legend} {{device}} {{operation}}` },
    ] })
    .timeseries({ title: 'Processes and threads', queries: [
      { expr: `sum by (${by}) (container_processes{${CONTAINER}})`, legend: `${legend} processes` },
      { expr: `sum by (${by}) (container_threads{${CONTAINER}})`, legend: `${legend} threads` },
    ] })
    .table({ title: 'Containers: uptime and last seen', queries: [
      { expr: `time() - max by (${by}, image) (container_start_time_seconds{${CONTAINER}})` },
      { expr: `time() - max by (${by}, image) (container_last_seen{${CONTAINER}})` },
    ] });
  return dashboard({
    uid: 'swarmwatch-containers', title: 'Swarm / Containers',
    description: 'Top-N CPU, memory working set vs limit, CPU throttling, network, block I/O and OOM kills per container.',
    layout: l, variables: [STACK_VAR(), SERVICE_VAR(), NODE_VAR(), customVariable('topk', 'Top N', ['10', '5', '20', '50'])],
  });
}
