import { commonOf, isResolved, ZERO_TIME, type LabelSet } from '../model.js';
import type { Notification } from '../dispatch/dispatcher.js';

/** Alertmanager's webhook message, version 4 (notify/webhook/webhook.go, template/template.go). */
export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: LabelSet;
  annotations: LabelSet;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: LabelSet;
  commonLabels: LabelSet;
  commonAnnotations: LabelSet;
  externalURL: string;
  alerts: WebhookAlert[];
}

/**
 * Builds the v4 payload of a notification for one integration. Firing alerts carry the zero endsAt, as
 * Alertmanager sends them; `sendResolved: false` leaves resolved alerts out; `maxAlerts` truncates.
 * Returns undefined when nothing is left to send.
 */
export function buildPayload(n: Notification, opts: { externalURL: string; sendResolved: boolean; maxAlerts: number }): WebhookPayload | undefined {
  let alerts: WebhookAlert[] = n.alerts.map((a) => {
    const resolved = isResolved(a, n.createdAt);
    return { status: resolved ? 'resolved' : 'firing', labels: a.labels, annotations: a.annotations, startsAt: a.startsAt, endsAt: resolved ? a.endsAt : ZERO_TIME, generatorURL: a.generatorURL, fingerprint: a.fingerprint };
  });
  if (!opts.sendResolved) alerts = alerts.filter((a) => a.status === 'firing');
  if (alerts.length === 0) return undefined;
  // Firing first, then by name: the order a reader wants and a stable one for de-duplication.
  alerts.sort((a, b) => (a.status === b.status ? a.fingerprint.localeCompare(b.fingerprint) : a.status === 'firing' ? -1 : 1));
  const truncated = opts.maxAlerts > 0 && alerts.length > opts.maxAlerts ? alerts.length - opts.maxAlerts : 0;
  if (truncated > 0) alerts = alerts.slice(0, opts.maxAlerts);
  return {
    version: '4',
    groupKey: n.groupKey,
    truncatedAlerts: truncated,
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    receiver: n.receiver,
    groupLabels: n.groupLabels,
    commonLabels: commonOf(alerts.map((a) => a.labels)),
    commonAnnotations: commonOf(alerts.map((a) => a.annotations)),
    externalURL: opts.externalURL,
    alerts,
  };
}
