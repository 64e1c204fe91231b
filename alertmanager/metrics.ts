import { Counter, Gauge, type Registry } from 'prom-client';
import type { Alert } from './model.js';

/** The alert engine's own metrics; labels carry names only, never URLs, addresses or secrets. */
export class AlertMetrics {
  readonly sent: Counter<'receiver' | 'integration'>;
  readonly failed: Counter<'receiver' | 'integration'>;
  readonly retried: Counter<'receiver' | 'integration'>;
  readonly received: Counter<'outcome'>;
  readonly evaluations: Counter;
  readonly outboxPending: Gauge;
  readonly notifying: Gauge;
  readonly firing: Gauge<'alertname' | 'severity'>;

  constructor(registry: Registry, firingAlerts: () => Alert[]) {
    this.sent = new Counter({ name: 'swarmwatch_alert_notifications_sent_total', help: 'Notifications delivered, by receiver and integration (email, webhook)', labelNames: ['receiver', 'integration'], registers: [registry] });
    this.failed = new Counter({ name: 'swarmwatch_alert_notifications_failed_total', help: 'Notifications given up (permanent error or older than alertmanager.notify-max-age)', labelNames: ['receiver', 'integration'], registers: [registry] });
    this.retried = new Counter({ name: 'swarmwatch_alert_notification_retries_total', help: 'Delivery attempts that failed and were scheduled again with backoff', labelNames: ['receiver', 'integration'], registers: [registry] });
    this.received = new Counter({ name: 'swarmwatch_alert_api_alerts_received_total', help: 'Alerts posted to /api/v2/alerts, by outcome (accepted, invalid)', labelNames: ['outcome'], registers: [registry] });
    this.evaluations = new Counter({ name: 'swarmwatch_alert_rule_evaluations_total', help: 'Rule evaluation passes (one pass evaluates every enabled rule)', registers: [registry] });
    this.outboxPending = new Gauge({ name: 'swarmwatch_alert_outbox_pending', help: 'Notifications waiting in the durable outbox (queued or retrying)', registers: [registry] });
    this.notifying = new Gauge({ name: 'swarmwatch_alert_notifier_active', help: '1 when this instance sends cluster notifications (leader, no leader, or not a manager), 0 when it defers to the leader', registers: [registry] });
    this.firing = new Gauge({
      name: 'swarmwatch_alerts_firing', help: 'Alerts firing now, by alert name and severity', labelNames: ['alertname', 'severity'], registers: [registry],
      collect() {
        this.reset();
        for (const a of firingAlerts()) this.inc({ alertname: a.labels.alertname ?? '', severity: a.labels.severity ?? '' });
      },
    });
  }
}
