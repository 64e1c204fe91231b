import { Counter, Gauge, type Registry } from 'prom-client';

/** Reasons of swarmwatch_shipper_dropped_total (log-shipper/reader.ts, shipper.ts). */
export const DROP_REASONS = ['unparsable_entry', 'rotated_before_read', 'removed_before_read'] as const;

/** The shipper's metrics, on the agent's registry (the same one the exporter serves at /metrics). */
export class ShipperMetrics {
  readonly lines: Counter<'service'>;
  readonly bytes: Counter<'service'>;
  readonly dropped: Counter<'reason'>;
  readonly truncated: Counter<'reason'>;
  readonly logCuts: Counter;
  readonly reconnects: Counter;
  readonly resentLines: Counter<'reason'>;
  readonly deliveryErrors: Counter<'code'>;
  readonly cursorWriteErrors: Counter;
  readonly lag: Gauge<'container_name' | 'service'>;
  readonly queueBytes: Gauge;
  readonly connected: Gauge;
  readonly readers: Gauge;

  /** Where swarmwatch_shipper_queue_bytes is read from at scrape time. */
  queuedBytes?: () => number;

  constructor(registry: Registry) {
    const r = [registry];
    this.lines = new Counter({ name: 'swarmwatch_shipper_lines_total', help: 'Log lines delivered to the GELF destination, by Swarm service (empty for plain containers)', labelNames: ['service'], registers: r });
    this.bytes = new Counter({ name: 'swarmwatch_shipper_bytes_total', help: 'Bytes of GELF JSON delivered, by Swarm service', labelNames: ['service'], registers: r });
    this.dropped = new Counter({ name: 'swarmwatch_shipper_dropped_total', help: 'Log entries not shipped, by reason', labelNames: ['reason'], registers: r });
    // A drop is usually a one-off: born at 1, the series would show no increase to rate()/increase(). From 0 it does.
    for (const reason of DROP_REASONS) this.dropped.inc({ reason }, 0);
    this.truncated = new Counter({ name: 'swarmwatch_shipper_truncated_total', help: 'Messages cut to fit, by reason (max_message_size, udp_chunk_limit)', labelNames: ['reason'], registers: r });
    this.logCuts = new Counter({ name: 'swarmwatch_shipper_log_cuts_total', help: 'Container json-file logs found emptied or cut in place while being read (truncate -s 0 to free disk, logrotate copytruncate); reading goes on from a rotated copy if there is one, then from the new start; lines written before a cut, not read yet and in no copy are lost (how many is not known)', registers: r });
    this.resentLines = new Counter({ name: 'swarmwatch_shipper_resent_lines_total', help: 'Log lines sent again that the destination may already have, by reason: unclean_stop (the write a kill -9, an out-of-memory kill or a crash interrupted, counted at the next start), reconnect (the last second before a connection broke)', labelNames: ['reason'], registers: r });
    for (const reason of ['unclean_stop', 'reconnect']) this.resentLines.inc({ reason }, 0);
    this.reconnects = new Counter({ name: 'swarmwatch_shipper_reconnects_total', help: 'Connections to the destination opened again after the first', registers: r });
    this.deliveryErrors = new Counter({ name: 'swarmwatch_shipper_delivery_errors_total', help: 'Failed delivery attempts (each is retried), by error code', labelNames: ['code'], registers: r });
    this.cursorWriteErrors = new Counter({ name: 'swarmwatch_shipper_cursor_write_errors_total', help: 'Failed writes of the cursor file', registers: r });
    this.lag = new Gauge({ name: 'swarmwatch_shipper_lag_seconds', help: 'Age of the last delivered line of each container when it was delivered', labelNames: ['container_name', 'service'], registers: r });
    const metrics = this;
    // Read at scrape time: setting it on every queued message cost ≈ 1 % of the shipper's CPU.
    this.queueBytes = new Gauge({ name: 'swarmwatch_shipper_queue_bytes', help: 'Encoded messages waiting for delivery', registers: r, collect() { if (metrics.queuedBytes) this.set(metrics.queuedBytes()); } });
    this.connected = new Gauge({ name: 'swarmwatch_shipper_destination_up', help: '1 when the last delivery attempt succeeded', registers: r });
    this.readers = new Gauge({ name: 'swarmwatch_shipper_readers', help: 'Containers whose log stream is open', registers: r });
  }
}
