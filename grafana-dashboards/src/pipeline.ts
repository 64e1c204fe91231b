import { NODE, RATE, countedIn } from './filters.js';
import { Layout, NODE_VAR, SERVICE_VAR, STACK_VAR, dashboard } from './panels.js';

/** The shipper's per-service families: `service` is the Swarm service name, empty for plain containers (so "All" keeps them). */
const SHIPPER_SERVICE = `service=~"$service", ${NODE}`;

/**
 * Is the monitoring itself working? Scrapes (Prometheus' own series), collectors, the log shipper, the
 * alert engine and the agent process.
 *
 * The shipper runs on every node and ships that node's containers only: its counters are summed across
 * nodes. Every alert-engine instance counts its own deliveries (only the notifying one delivers cluster
 * alerts, each node delivers its local ones): summed too. Cluster alerts are evaluated by every manager's
 * instance, so firing alerts are counted once per alert name and severity (max over instances).
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
    .timeseries({ title: 'Collector errors', unit: 'ops', faultOnly: 'a collector must have met an error (the Docker engine unreachable: collector "engine", one per scrape; an unreadable cgroup file).', queries: [{ expr: `sum by (collector, code) (rate(swarmwatch_collector_errors_total{${NODE}}[${RATE}]))`, legend: '{{collector}} {{code}}' }] })
    .row('Log shipper')
    .timeseries({ title: 'Shipped lines per second', unit: 'short', description: 'Log lines delivered to the GELF destination, by Swarm service (empty: plain containers), all nodes.', queries: [{ expr: `sum by (service) (rate(swarmwatch_shipper_lines_total{${SHIPPER_SERVICE}}[${RATE}]))`, legend: '{{service}}' }] })
    .timeseries({ title: 'Shipped bytes per second', unit: 'Bps', description: 'GELF JSON bytes delivered, by Swarm service, all nodes.', queries: [{ expr: `sum by (service) (rate(swarmwatch_shipper_bytes_total{${SHIPPER_SERVICE}}[${RATE}]))`, legend: '{{service}}' }] })
    .timeseries({ title: 'Shipping lag', unit: 's', description: 'Age of the last delivered line of each container when it was delivered (worst per node and container). Holds its last value while a container writes nothing.', queries: [{ expr: `max by (swarm_node, container_name) (swarmwatch_shipper_lag_seconds{${SHIPPER_SERVICE}})`, legend: '{{swarm_node}} {{container_name}}' }] })
    .timeseries({ title: 'Destination up', min: 0, max: 1, description: '1 when the last delivery attempt of the node\'s shipper succeeded; 0 while the GELF destination refuses or drops the connection.', queries: [{ expr: `min by (swarm_node) (swarmwatch_shipper_destination_up{${NODE}})`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Shipper queue', unit: 'bytes', description: 'Encoded messages waiting for delivery; grows while the destination is down (reading pauses at shipper.buffer-size).', queries: [{ expr: `max by (swarm_node) (swarmwatch_shipper_queue_bytes{${NODE}})`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Open log streams', description: 'Containers whose log the shipper is reading, per node.', queries: [{ expr: `max by (swarm_node) (swarmwatch_shipper_readers{${NODE}})`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Reconnects', unit: 'ops', description: 'Connections to the GELF destination opened again after the first, all nodes.', queries: [{ expr: `sum by (swarm_node) (rate(swarmwatch_shipper_reconnects_total{${NODE}}[${RATE}]))`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Lines sent again', unit: 'short', description: 'Log lines sent again that Graylog may already have, by reason, all nodes: unclean_stop, the write a kill -9, an out-of-memory kill or a crash interrupted (counted at the next start, whose warning SW_ERR_SHIPPER_UNCLEAN_STOP names the containers and times); reconnect, the last second of lines sent again after a connection broke.', queries: [{ expr: `sum by (reason) (increase(swarmwatch_shipper_resent_lines_total{${NODE}}[${RATE}]))`, legend: '{{reason}}' }] })
    .timeseries({ title: 'Delivery errors', unit: 'ops', faultOnly: 'a delivery to the GELF destination must have failed (each failure is retried).', queries: [{ expr: `sum by (swarm_node, code) (rate(swarmwatch_shipper_delivery_errors_total{${NODE}}[${RATE}]))`, legend: '{{swarm_node}} {{code}}' }] })
    .timeseries({ title: 'Truncated messages', unit: 'ops', faultOnly: 'a message must have been cut to fit (longer than shipper.max-message-size, or over the UDP chunk limit).', queries: [{ expr: `sum by (reason) (rate(swarmwatch_shipper_truncated_total{${NODE}}[${RATE}]))`, legend: '{{reason}}' }] })
    .timeseries({ title: 'Dropped log entries', unit: 'ops', faultOnly: 'an entry must have been lost (unparsable, a log file rotated away before it was read, or a container removed before its log was read), or a log was cut in place (truncate), which loses what was written just before the cut and not read yet.', queries: [{ expr: `sum by (reason) (rate(swarmwatch_shipper_dropped_total{${NODE}}[${RATE}]))`, legend: '{{reason}}' }, { expr: `sum(rate(swarmwatch_shipper_cursor_write_errors_total{${NODE}}[${RATE}])) > 0`, legend: 'cursor write errors' }, { expr: `sum(rate(swarmwatch_shipper_log_cuts_total{${NODE}}[${RATE}])) > 0`, legend: 'logs cut in place' }] })
    .row('Alert engine')
    .timeseries({ title: 'Notifications sent', unit: 'ops', description: 'Notifications delivered, by receiver and integration, all instances.', queries: [{ expr: `sum by (receiver, integration) (rate(swarmwatch_alert_notifications_sent_total{${NODE}}[${RATE}]))`, legend: '{{receiver}} {{integration}}' }] })
    .stat({ title: 'Notifications sent (range)', width: 6, height: 8, description: 'Notifications delivered in the time range, all instances (a receiver\'s first notification included).', queries: [{ expr: `sum(${countedIn(`swarmwatch_alert_notifications_sent_total{${NODE}}`, '$__range')}) or vector(0)` }], baseColor: 'blue' })
    .stat({ title: 'Outbox pending', width: 6, height: 8, description: 'Notifications waiting in the durable outboxes (queued or retrying), all instances.', queries: [{ expr: `sum(swarmwatch_alert_outbox_pending{${NODE}})` }], thresholds: [['orange', 1]] })
    .timeseries({ title: 'Notification failures and retries', unit: 'ops', faultOnly: 'a delivery must have failed: retried with backoff, or given up (permanent error or older than alertmanager.notify-max-age).', queries: [{ expr: `sum by (receiver, integration) (rate(swarmwatch_alert_notifications_failed_total{${NODE}}[${RATE}]))`, legend: 'failed {{receiver}} {{integration}}' }, { expr: `sum by (receiver, integration) (rate(swarmwatch_alert_notification_retries_total{${NODE}}[${RATE}]))`, legend: 'retried {{receiver}} {{integration}}' }] })
    .timeseries({ title: 'Outbox pending per instance', description: 'Grows while a receiver is down.', queries: [{ expr: `max by (swarm_node) (swarmwatch_alert_outbox_pending{${NODE}})`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Alerts firing by severity', stacked: true, description: 'Firing alerts counted once per alert name and severity (every manager evaluates the cluster rules: max over instances).', queries: [{ expr: 'sum by (severity) (max by (alertname, severity) (swarmwatch_alerts_firing))', legend: '{{severity}}' }] })
    .table({ title: 'Notifying instances', description: 'Which instances send cluster notifications (1): the leader\'s, every manager\'s while there is no leader, and every non-manager\'s; 0 defers to the leader (local alerts are still sent by every instance).', queries: [{ expr: `max by (swarm_node, instance) (swarmwatch_alert_notifier_active{${NODE}})` }] })
    .timeseries({ title: 'Alerts received by the API', unit: 'ops', faultOnly: 'something must post alerts to /api/v2/alerts (Prometheus sends only while one of its rules fires).', description: 'By outcome, all instances.', queries: [{ expr: `sum by (outcome) (rate(swarmwatch_alert_api_alerts_received_total{${NODE}}[${RATE}]))`, legend: '{{outcome}}' }] })
    .row('Agent process')
    .timeseries({ title: 'Agent CPU', unit: 'percentunit', queries: [{ expr: `max by (swarm_node) (rate(process_cpu_seconds_total{job="swarmwatch", ${NODE}}[${RATE}]))`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Agent resident memory', unit: 'bytes', queries: [{ expr: `max by (swarm_node) (process_resident_memory_bytes{job="swarmwatch", ${NODE}})`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Agent event-loop lag (p99)', unit: 's', queries: [{ expr: `max by (swarm_node) (nodejs_eventloop_lag_p99_seconds{job="swarmwatch", ${NODE}})`, legend: '{{swarm_node}}' }] })
    .timeseries({ title: 'Agent heap used', unit: 'bytes', queries: [{ expr: `max by (swarm_node) (nodejs_heap_size_used_bytes{job="swarmwatch", ${NODE}})`, legend: '{{swarm_node}}' }] });
  return dashboard({
    uid: 'swarmwatch-pipeline', title: 'Swarm / Pipeline health',
    description: 'Scrape durations and errors, collector timings and errors, log shipper throughput, lag and errors, alert notifications, and the swarmwatch agent process.',
    layout: l, variables: [STACK_VAR(), SERVICE_VAR(), NODE_VAR()],
  });
}
