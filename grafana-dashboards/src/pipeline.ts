import { NODE, RATE } from './filters.js';
import { Layout, NODE_VAR, SERVICE_VAR, STACK_VAR, dashboard } from './panels.js';

/**
 * Is the monitoring itself working? Scrapes (Prometheus' own series), collectors and the agent process.
 * Shipper and notification panels join when those components export their metrics.
 */
export function pipeline() {
  const l = new Layout()
    .row('Scrapes')
    .timeseries({ title: 'Targets up', queries: [{ expr: `sum by (job) (up{${NODE}})`, legend: '{{job}} up' }, { expr: `count by (job) (up{${NODE}} == 0)`, legend: '{{job}} down' }] })
    .timeseries({ title: 'Scrape duration', unit: 's', queries: [{ expr: `max by (job, swarm_node) (scrape_duration_seconds{${NODE}})`, legend: '{{job}} {{swarm_node}}' }] })
    .timeseries({ title: 'Samples per scrape', queries: [{ expr: `max by (job, swarm_node) (scrape_samples_scraped{${NODE}})`, legend: '{{job}} {{swarm_node}}' }] })
    .table({ title: 'Targets down', faultOnly: 'a scrape target must be failing.', queries: [{ expr: `up{${NODE}} == 0` }] })
    .row('Collectors')
    .timeseries({ title: 'Collector duration', unit: 's', queries: [{ expr: `max by (swarm_node, collector) (swarmwatch_collector_duration_seconds{${NODE}})`, legend: '{{swarm_node}} {{collector}}' }] })
    .timeseries({ title: 'Collector errors', unit: 'ops', faultOnly: 'a collector must have met an error (e.g. an unreadable cgroup file).', queries: [{ expr: `sum by (collector, code) (rate(swarmwatch_collector_errors_total{${NODE}}[${RATE}]))`, legend: '{{collector}} {{code}}' }] })
    .row('Agent process')
    .timeseries({ title: 'Agent CPU', unit: 'percentunit', queries: [{ expr: `max by (swarm_node) (rate(process_cpu_seconds_total{job="swarmwatch", ${NODE}}[${RATE}]))`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Agent resident memory', unit: 'bytes', queries: [{ expr: `max by (swarm_node) (process_resident_memory_bytes{job="swarmwatch", ${NODE}})`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Agent event-loop lag (p99)', unit: 's', queries: [{ expr: `max by (swarm_node) (nodejs_eventloop_lag_p99_seconds{job="swarmwatch", ${NODE}})`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Agent heap used', unit: 'bytes', queries: [{ expr: `max by (swarm_node) (nodejs_heap_size_used_bytes{job="swarmwatch", ${NODE}})`, legend: '{{swarm_node}}' }] });
  return dashboard({
    uid: 'swarmwatch-pipeline', title: 'Swarm / Pipeline health',
    description: 'Scrape durations and errors, collector timings and errors, and the swarmwatch agent process.',
    layout: l, variables: [STACK_VAR(), SERVICE_VAR(), NODE_VAR()],
  });
}
